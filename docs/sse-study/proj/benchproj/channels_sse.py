"""Approach B2: Channels 4 AsyncHttpConsumer streaming SSE, each connection in one group."""
import asyncio
import os

from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

HEARTBEAT = float(os.environ.get("SSE_HEARTBEAT", "20"))
GROUP = "fanout"


class SSEConsumer(AsyncHttpConsumer):
    async def http_request(self, message):
        # Stock AsyncHttpConsumer.http_request calls disconnect() and raises StopConsumer as soon
        # as handle() returns, so group messages can never reach a streaming response
        # (django/channels #1302, #1747, PR #1334 open). Keep the consumer alive until
        # http.disconnect instead.
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            await self.handle(b"".join(self.body))

    async def handle(self, body):
        self.uid = self.scope["url_route"]["kwargs"]["uid"]
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.send_headers(
            headers=[
                (b"Content-Type", b"text/event-stream"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),
            ]
        )
        await self.send_body(b": connected\nretry: 5000\n\n", more_body=True)
        self.hb_task = asyncio.ensure_future(self._heartbeat())

    async def _heartbeat(self):
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self.send_body(b": hb\n\n", more_body=True)

    async def sse_event(self, event):  # type "sse.event"
        await self.send_body(event["frame"].encode(), more_body=True)

    async def disconnect(self):
        if getattr(self, "hb_task", None):
            self.hb_task.cancel()
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def http_disconnect(self, message):
        await self.disconnect()
        await aclose_old_connections()
        raise StopConsumer()
