"""Views for the measurements.

sse_stream: async view, StreamingHttpResponse over an async generator that waits on a per-connection
asyncio.Queue and sends a comment heartbeat every SSE_HEARTBEAT seconds (20). When SSE_PUBSUB=1 the
process holds ONE redis.asyncio pub/sub subscription (started with the first stream) and dispatches
each published event in memory to the queues of the users it names (approach B1).
"""
import asyncio
import json
import os
import random
import time

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Item

HEARTBEAT = float(os.environ.get("SSE_HEARTBEAT", "20"))
USE_PUBSUB = os.environ.get("SSE_PUBSUB") == "1"

QUEUES: dict[int, set] = {}  # user id -> set of asyncio.Queue (one per open stream)
STATS = {"opened": 0, "closed": 0, "cancelled": 0, "closed_at": [], "dispatched": 0, "resubscribed": 0, "overflow": 0}
_listener_task = None


async def _pubsub_listener():
    """One subscription per process; reconnects by itself (redis-py does not, see RESULTS.md)."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

    backoff = 0.2
    while True:
        client = aioredis.Redis.from_url(settings.REDIS_URL, health_check_interval=10)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(settings.SSE_PUBSUB_CHANNEL)
            backoff = 0.2
            STATS["resubscribed"] += 1
            # after a (re)subscribe the app must tell its streams to replay from the DB table:
            # anything published while we were not subscribed is lost by pub/sub.
            async for msg in pubsub.listen():
                if msg["type"] != "message":
                    continue
                ev = json.loads(msg["data"])
                users = ev.pop("users")
                # encoded once, shared by every recipient's queue
                frame = ("id: %s\ndata: %s\n\n" % (ev["seq"], json.dumps(ev))).encode()
                for uid in users:
                    for q in QUEUES.get(uid, ()):
                        try:
                            q.put_nowait(frame)
                        except asyncio.QueueFull:  # slow client: real code closes it, client replays
                            STATS["overflow"] += 1
                STATS["dispatched"] += 1
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5)
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:
                pass


def _ensure_listener():
    global _listener_task
    if USE_PUBSUB and (_listener_task is None or _listener_task.done()):
        _listener_task = asyncio.get_running_loop().create_task(_pubsub_listener())


async def _event_stream(uid: int, queue: asyncio.Queue):
    STATS["opened"] += 1
    try:
        # first bytes at once: makes servers/proxies send the headers and proves no buffering
        yield b": connected\nretry: 5000\n\n"
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                yield b": hb\n\n"
                continue
            yield frame
    except asyncio.CancelledError:
        STATS["cancelled"] += 1
        raise
    finally:
        conns = QUEUES.get(uid)
        if conns is not None:
            conns.discard(queue)
            if not conns:
                del QUEUES[uid]
        STATS["closed"] += 1
        STATS["closed_at"].append(time.monotonic())
        del STATS["closed_at"][:-2000]


async def sse_stream(request):
    uid = int(request.GET.get("u", "0"))
    queue: asyncio.Queue = asyncio.Queue(maxsize=100)
    QUEUES.setdefault(uid, set()).add(queue)
    _ensure_listener()
    resp = StreamingHttpResponse(_event_stream(uid, queue), content_type="text/event-stream")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    return resp


async def stats(request):
    n = sum(len(s) for s in QUEUES.values())
    return JsonResponse({"pid": os.getpid(), "active": n, **STATS, "closed_at": STATS["closed_at"][-200:]})


def peer(request):
    return JsonResponse(
        {
            "REMOTE_ADDR": request.META.get("REMOTE_ADDR"),
            "X_FORWARDED_FOR": request.META.get("HTTP_X_FORWARDED_FOR"),
            "scheme": request.scheme,
            "server": request.META.get("SERVER_SOFTWARE", ""),
        }
    )


class JsonView(APIView):
    """Sync DRF view, small JSON, no DB."""

    def get(self, request):
        return Response({"id": 1, "status": "ok", "items": [1, 2, 3], "name": "hello"})


class DbView(APIView):
    """Sync DRF view, one SQLite query."""

    def get(self, request):
        row = Item.objects.filter(pk=random.randint(1, 1000)).values("id", "name", "value").first()
        return Response(row)


async def ajson(request):
    """Async-native counterpart of JsonView (no DRF, no thread hop) for reference."""
    return JsonResponse({"id": 1, "status": "ok", "items": [1, 2, 3], "name": "hello"})
