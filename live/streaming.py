"""One stream's life: open (replay what the client missed, or reset), then write live events in
seq order, exactly once, until the client leaves, the deadline passes or the account is deleted.

No gap and no duplicate at the switch from replay to live: the stream is registered with the hub
(so live events queue up) before the table is read, and queued events at or below the last seq
written are dropped. A live event whose seq is not the next one makes the stream read the table
first, so events that arrive out of order (two workers publishing) still go out in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from django.conf import settings

from live import feed, selectors
from live.hub import CLOSE, EVENT, HEARTBEAT, Hub, Stream, frame
from live.services import ACCOUNT_DELETED

PAGE = 500  # events per read of the table


def _control(kind: str, data: dict, seq: int | None = None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _frames(stream: Stream, rows: list[tuple[int, str, dict]]) -> tuple[list[bytes], bool]:
    """Frames of table rows, advancing the stream; stops at (and after) an account deletion."""
    chunks = []
    for seq, kind, data in rows:
        chunks.append(frame(seq, kind, data))
        stream.last_seq = seq
        if kind == ACCOUNT_DELETED:
            return chunks, True
    return chunks, False


async def _read_table(hub: Hub, stream: Stream) -> tuple[bytes, bool]:
    """Frames of the stream's events after its last seq; whether the account is deleted."""
    chunks: list[bytes] = []
    while True:
        rows = await hub.db(
            selectors.live_events_after, user_id=stream.user_id, after=stream.last_seq, limit=PAGE
        )
        page, deleted = _frames(stream, rows)
        chunks += page
        if deleted or len(rows) < PAGE:
            return b"".join(chunks), deleted


async def _replay_or_reset(hub: Hub, stream: Stream, after: int | None) -> tuple[bytes, bool]:
    """The opening frames: the missed events, or a `reset` when they are out of the window."""
    last = await hub.db(selectors.live_last_seq, user_id=stream.user_id)
    if after is None or after == last:
        stream.last_seq = last if after is None else after
        return b"", False
    if after < last:
        limit = settings.LIVE_REPLAY_MAX_EVENTS
        rows = await hub.db(
            selectors.live_events_after, user_id=stream.user_id, after=after, limit=limit + 1
        )
        if rows and rows[0][0] == after + 1 and len(rows) <= limit:
            chunks, deleted = _frames(stream, rows)
            return b"".join(chunks), deleted
    # Further back than the window, or ahead of the log (a restored database): start afresh.
    stream.last_seq = last
    return _control("reset", {"last_event_id": last}, seq=last), False


def _opening(hub: Hub, stream: Stream, replayed: bytes) -> bytes:
    retry = f"retry: {settings.LIVE_RETRY_MS}\n\n".encode()
    ready = _control(
        "ready",
        {
            "last_event_id": stream.last_seq,
            "transport": hub.transport,
            "heartbeat_seconds": settings.LIVE_HEARTBEAT_SECONDS,
        },
        seq=stream.last_seq,
    )
    return retry + replayed + ready


async def _live(hub: Hub, stream: Stream) -> AsyncIterator[bytes]:
    """Write queued items until a close; read the table at every gap, hint or catch-up."""
    while True:
        kind, seq, data, event_type = await stream.queue.get()
        if kind == CLOSE:
            yield _control("close", {"reason": event_type})
            return
        if kind == HEARTBEAT:
            yield data
            continue
        if seq and seq <= stream.last_seq:
            continue  # replayed already, or delivered by both the table and pub/sub
        stream.last_write = time.monotonic()
        if kind == EVENT and seq == stream.last_seq + 1:
            stream.last_seq = seq
            yield data
            if event_type == ACCOUNT_DELETED:
                return
            continue
        stream.catch_up_pending = False
        frames, deleted = await _read_table(hub, stream)
        if frames:
            yield frames
        if deleted:
            return


async def stream_events(hub: Hub, stream: Stream, after: int | None) -> AsyncIterator[bytes]:
    """The response body of one stream. Cleans up however it ends (a client that leaves
    cancels it under ASGI)."""
    hub.add(stream)  # first, so that nothing published from now on is missed
    try:
        replayed, deleted = await _replay_or_reset(hub, stream, after)
        yield _opening(hub, stream, replayed)
        if deleted:
            return
        async for chunk in _live(hub, stream):
            yield chunk
    finally:
        hub.remove(stream)
        await feed.release(hub, stream.user_id, stream.conn_id)
