"""The serving side of live delivery: one Redis subscription per process (or one poll loop),
handing events to the local streams through bounded queues, and reading the table to fill gaps.

Each open stream is a `Stream`: its user, the last seq it has written, and a queue of at most
LIVE_QUEUE_SIZE items. The hub puts into the queue and never waits: a stream whose queue is full
is closed (its client replays what it missed on reconnect), so a slow client costs a bounded
amount of memory. The stream's own coroutine (live/streaming.py) takes the items out, writes
events in seq order and reads the table whenever the next seq is not the one it expects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from live import selectors

logger = logging.getLogger(__name__)

# Queue items: (kind, seq, frame, type). Kinds: an event with its frame, a hint (an event whose
# body is in the table only), "read the table" (after a reconnect or a sweep), a heartbeat, close.
EVENT, HINT, CATCH_UP, HEARTBEAT, CLOSE = "event", "hint", "catch-up", "heartbeat", "close"
HEARTBEAT_ITEM = (HEARTBEAT, 0, b": heartbeat\n\n", "")
CATCH_UP_ITEM = (CATCH_UP, 0, b"", "")


def frame(seq: int, kind: str, data) -> bytes:
    body = json.dumps(data, separators=(",", ":"), default=str)
    return f"id: {seq}\nevent: {kind}\ndata: {body}\n\n".encode()


class Stream:
    """One open connection. `deadline` is a wall-clock time (the token's or ticket's expiry)."""

    __slots__ = (
        "abort",
        "catch_up_pending",
        "closing",
        "conn_id",
        "deadline",
        "last_seq",
        "last_write",
        "queue",
        "user_id",
    )

    def __init__(self, user_id: int, deadline: float, abort=None) -> None:
        self.user_id = user_id
        self.abort = abort  # drops the connection (live/asgi.py); None outside that wrapper
        self.deadline = deadline
        self.conn_id = uuid.uuid4().hex
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=settings.LIVE_QUEUE_SIZE)
        self.last_seq = 0
        self.last_write = time.monotonic()
        self.closing = False
        self.catch_up_pending = False

    def offer(self, item: tuple) -> None:
        """Queue an item without waiting; a full queue closes the stream."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.close("overflow")
            if self.abort is not None:  # its writes may be blocked: drop the connection
                self.abort()

    def request_catch_up(self) -> None:
        if not self.catch_up_pending:
            self.catch_up_pending = True
            self.offer(CATCH_UP_ITEM)

    def close(self, reason: str) -> None:
        """Drop whatever waits (the client replays it) and tell the stream to end."""
        if self.closing:
            return
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait((CLOSE, 0, b"", reason))


def _run(function, kwargs):
    close_old_connections()  # a thread's connection past DB_CONN_MAX_AGE, or broken
    return function(**kwargs)


class Hub:
    """The streams of this process, and what feeds them: Redis pub/sub, or polling the table."""

    def __init__(self) -> None:
        self.streams: dict[int, set[Stream]] = {}
        self.transport = "redis" if settings.LIVE_REDIS_URL else "poll"
        self.subscribed = asyncio.Event()
        self.db_slots = asyncio.Semaphore(settings.LIVE_DB_THREADS)
        self.tasks: list[asyncio.Task] = []
        self.stats = {"subscriptions": 0, "dispatched": 0}
        self.redis = None  # asyncio client for the connection counts (live/feed.py)
        self._catch_up_task: asyncio.Task | None = None

    # --- Streams --------------------------------------------------------------------------

    def add(self, stream: Stream) -> None:
        self.streams.setdefault(stream.user_id, set()).add(stream)

    def remove(self, stream: Stream) -> None:
        streams = self.streams.get(stream.user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self.streams[stream.user_id]

    def local_count(self, user_id: int) -> int:
        return len(self.streams.get(user_id, ()))

    async def db(self, function, **kwargs):
        """Run a selector in a thread of its own (not the one thread sync views share)."""
        async with self.db_slots:
            return await sync_to_async(_run, thread_sensitive=False)(function, kwargs)

    # --- Feeding --------------------------------------------------------------------------

    def dispatch(self, raw: bytes | str) -> None:
        """A published message: hand each event to the local streams of its user."""
        for user_id, seq, kind, data in json.loads(raw)["e"]:
            streams = self.streams.get(user_id)
            if not streams:
                continue
            item = (
                (HINT, seq, b"", kind)
                if data is None
                else (EVENT, seq, frame(seq, kind, data), kind)
            )
            for stream in list(streams):
                stream.offer(item)
        self.stats["dispatched"] += 1

    def on_reconnect(self, connection) -> None:
        """redis-py reconnected the subscription by itself (and subscribed again): whatever was
        published meanwhile is gone from pub/sub but not from the table."""
        self.stats["subscriptions"] += 1
        self._catch_up_task = asyncio.get_running_loop().create_task(self.catch_up_all())

    async def catch_up_all(self) -> None:
        """Compare every local stream with its user's cursor; the ones behind read the table."""
        users = list(self.streams)
        for start in range(0, len(users), 1_000):
            chunk = users[start : start + 1_000]
            last = await self.db(selectors.live_last_seqs, user_ids=chunk)
            for user_id in chunk:
                for stream in list(self.streams.get(user_id, ())):
                    if stream.last_seq < last.get(user_id, 0):
                        stream.request_catch_up()
