"""An ASGI wrapper that lets a stream drop its connection at once.

A client that stops reading blocks the stream's writes (the server waits for the socket to
drain), so neither a close event nor the end of the response would ever reach it. The wrapper
puts `live.abort` in the scope of each stream request; when a stream's queue overflows it calls
it, and the next `receive()` tells Django the client disconnected. Django cancels the response
as for any disconnect (the stream cleans up in its `finally`), the request returns without
finishing the response, and the server closes the connection (uvicorn logs "ASGI callable
returned without completing response"). Memory held for the client is what was already written.
"""

from __future__ import annotations

import asyncio

STREAM_PATH = "/api/events/"
DISCONNECT = {"type": "http.disconnect"}


def abortable_streams(app):
    async def application(scope, receive, send):
        if scope["type"] != "http" or scope.get("path") != STREAM_PATH:
            return await app(scope, receive, send)
        aborted = asyncio.get_running_loop().create_future()

        def abort() -> None:
            if not aborted.done():
                aborted.set_result(None)

        async def receive_or_abort():
            if aborted.done():
                return DISCONNECT
            message = asyncio.ensure_future(receive())
            await asyncio.wait({message, aborted}, return_when=asyncio.FIRST_COMPLETED)
            if message.done():
                return message.result()
            message.cancel()
            return DISCONNECT

        return await app({**scope, "live.abort": abort}, receive_or_abort, send)

    return application
