"""Reference: the same SSE stream as views.sse_stream, as a bare ASGI callable in front of Django.

Why it exists: Django's ASGIHandler wraps every request in asgiref's ThreadSensitiveContext and runs
the sync request_started receivers (close_old_connections, reset_queries) through sync_to_async, so
each open Django SSE response keeps ONE OS THREAD alive for its whole life. This path has no thread
per stream; it shares QUEUES/STATS with the Django view, so the pub/sub dispatcher feeds both.
"""
import asyncio
import time
from urllib.parse import parse_qs

from .views import HEARTBEAT, QUEUES, STATS, _ensure_listener

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def raw_sse_app(scope, receive, send):
    uid = int(parse_qs(scope.get("query_string", b"").decode()).get("u", ["0"])[0])
    queue: asyncio.Queue = asyncio.Queue(maxsize=100)
    QUEUES.setdefault(uid, set()).add(queue)
    _ensure_listener()
    STATS["opened"] += 1
    main = asyncio.current_task()

    async def watch_disconnect():
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                main.cancel()
                return

    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": b": connected\nretry: 5000\n\n", "more_body": True})
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                frame = b": hb\n\n"
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    except asyncio.CancelledError:
        STATS["cancelled"] += 1
    except OSError:
        pass
    finally:
        watcher.cancel()
        conns = QUEUES.get(uid)
        if conns is not None:
            conns.discard(queue)
            if not conns:
                del QUEUES[uid]
        STATS["closed"] += 1
        STATS["closed_at"].append(time.monotonic())
        del STATS["closed_at"][:-2000]
