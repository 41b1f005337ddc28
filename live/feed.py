"""What keeps a process's streams fed and alive: the Redis subscription (or the poll loop), the
ticker (heartbeats, deadlines, sweeps) and the per-user connection counts shared through Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

from live.hub import HEARTBEAT_ITEM, Hub

logger = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0


def _client():
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(
        settings.LIVE_REDIS_URL,
        socket_connect_timeout=1,
        socket_keepalive=True,
        health_check_interval=max(1, int(settings.LIVE_HEARTBEAT_SECONDS)),
    )


async def _subscribed_session(hub: Hub) -> None:
    """Subscribe, catch every stream up from the table, then dispatch until the link breaks."""
    client = _client()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(settings.LIVE_CHANNEL)
        # redis-py may reconnect and subscribe again inside get_message without raising: it
        # calls this (a weakly held method) after it has, and the hub catches up then too.
        pubsub.connection.register_connect_callback(hub.on_reconnect)
        hub.subscribed.set()
        hub.stats["subscriptions"] += 1
        # Whatever was published while this process was not subscribed is gone from pub/sub,
        # but not from the table: every stream behind its user's cursor reads it.
        await hub.catch_up_all()
        while True:
            message = await pubsub.get_message(timeout=settings.LIVE_HEARTBEAT_SECONDS)
            if message is not None and message["type"] == "message":
                hub.dispatch(message["data"])
    finally:
        hub.subscribed.clear()
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception:  # the connection is already gone
            logger.debug("live: closing a broken subscription", exc_info=True)


async def listen_redis(hub: Hub) -> None:
    """Hold this process's one subscription; come back by itself, with backoff, when it breaks."""
    backoff = BACKOFF_FIRST
    while True:
        started = time.monotonic()
        try:
            await _subscribed_session(hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("live: Redis subscription lost (%s); retrying in %.1fs", exc, backoff)
        if time.monotonic() - started > 10:
            backoff = BACKOFF_FIRST  # it had been up a while: start the backoff over
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX)


async def poll(hub: Hub) -> None:
    """Without Redis: compare every stream with the table each LIVE_POLL_SECONDS."""
    hub.subscribed.set()
    while True:
        await asyncio.sleep(settings.LIVE_POLL_SECONDS)
        try:
            await hub.catch_up_all()
        except Exception:
            logger.exception("live: polling the event table failed")


def _heartbeats_and_deadlines(hub: Hub) -> None:
    now, wall = time.monotonic(), time.time()
    for streams in list(hub.streams.values()):
        for stream in list(streams):
            if stream.deadline <= wall:
                stream.close("expired")
            elif now - stream.last_write >= settings.LIVE_HEARTBEAT_SECONDS:
                stream.last_write = now  # counts from the offer; a write also resets it
                stream.offer(HEARTBEAT_ITEM)


async def tick(hub: Hub) -> None:
    """Heartbeats, expired streams, and (with Redis) the sweep and the connection counts."""
    period = max(0.05, min(1.0, settings.LIVE_HEARTBEAT_SECONDS / 5))
    next_sweep = time.monotonic() + settings.LIVE_SWEEP_SECONDS
    while True:
        await asyncio.sleep(period)
        _heartbeats_and_deadlines(hub)
        if hub.transport == "redis" and time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + settings.LIVE_SWEEP_SECONDS
            try:  # a publish that never arrived is found here at the latest
                await hub.catch_up_all()
                await refresh_counts(hub)
            except Exception as exc:
                logger.warning("live: sweep failed (%s)", exc)


# --- Connections per user, across processes ---------------------------------------------------


def _count_key(user_id: int) -> str:
    return f"{settings.LIVE_CHANNEL}:connections:{user_id}"


def _count_ttl() -> float:
    """An entry lives this long unless refreshed: a killed process's connections age out."""
    return 2 * settings.LIVE_SWEEP_SECONDS + 5


async def admit(hub: Hub, user_id: int, conn_id: str) -> bool:
    """Count this connection in; False if the user already has the maximum open.

    With Redis the count covers every process (a sorted set of connection ids, scored by
    expiry); without, this process's streams.
    """
    limit = settings.LIVE_MAX_CONNECTIONS_PER_USER
    if hub.transport != "redis":
        return hub.local_count(user_id) < limit
    if hub.redis is None:
        hub.redis = _client()
    key, now = _count_key(user_id), time.time()
    try:
        async with hub.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {conn_id: now + _count_ttl()})
            pipe.zcard(key)
            pipe.expire(key, int(_count_ttl()) + 1)
            _, _, count, _ = await pipe.execute()
        if count > limit:
            await hub.redis.zrem(key, conn_id)
            return False
    except Exception as exc:  # Redis down: let the connection in rather than refuse everyone
        logger.warning("live: cannot count connections (%s)", exc)
    return True


async def release(hub: Hub, user_id: int, conn_id: str) -> None:
    if hub.transport == "redis" and hub.redis is not None:
        try:
            await hub.redis.zrem(_count_key(user_id), conn_id)
        except Exception:
            logger.debug("live: could not release a connection count", exc_info=True)


async def refresh_counts(hub: Hub) -> None:
    if hub.redis is None or not hub.streams:
        return
    expiry = time.time() + _count_ttl()
    async with hub.redis.pipeline(transaction=False) as pipe:
        for user_id, streams in list(hub.streams.items()):
            pipe.zadd(_count_key(user_id), {s.conn_id: expiry for s in streams})
            pipe.expire(_count_key(user_id), int(_count_ttl()) + 1)
        await pipe.execute()


# --- The process's hub ------------------------------------------------------------------------

_hub: Hub | None = None
_hub_loop = None


def get_hub() -> Hub:
    """This process's hub, fed and ticking, bound to the running event loop (made on the first
    stream: a process that serves no stream holds no subscription)."""
    global _hub, _hub_loop
    loop = asyncio.get_running_loop()
    if _hub is None or _hub_loop is not loop:
        _hub, _hub_loop = Hub(), loop
        source = listen_redis if _hub.transport == "redis" else poll
        _hub.tasks = [loop.create_task(source(_hub)), loop.create_task(tick(_hub))]
    return _hub
