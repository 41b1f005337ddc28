"""System checks of the messaging app: the cached lists need a cache every process shares, and
that cache must not be able to fill the broker's Redis.

The lists are invalidated by version tokens that writes replace (messaging/cache.py). With a
cache of each process's own (LocMemCache), a write served by one web process, or a notification
made by the worker, cannot reach the copies that the other processes keep: a sender's own new
message would be missing from the next list served by another process, for up to a minute.
Production settings require a shared cache (REQUIRE_SHARED_CACHE): `check --deploy` reports the
error, and every process refuses to start with it (MessagingConfig.ready).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from core.caching import cache_is_per_process

_LOOPBACK = {"", "localhost", "127.0.0.1", "::1"}


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs=None, **kwargs) -> list[Error]:
    if not getattr(settings, "REQUIRE_SHARED_CACHE", False) or not cache_is_per_process():
        return []
    return [
        Error(
            "The cache is per process (LocMemCache), but production runs several processes "
            "(web processes and a Celery worker): a write served by one of them would not "
            "invalidate the lists cached by the others.",
            hint="Set CACHE_URL to a Redis cache every process shares, e.g. "
            "redis://cache.internal:6379/1 (README, Production).",
            id="messaging.E001",
        )
    ]


def _redis_server(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("redis", "rediss"):
        return None
    host = parts.hostname or ""
    return ("localhost" if host in _LOOPBACK else host, parts.port or 6379)


@register(Tags.caches)
def cache_apart_from_broker(app_configs=None, **kwargs) -> list[Warning]:
    """Redis applies maxmemory and its eviction policy per server, not per database number.

    A cache on the broker's server either fills it (`noeviction`: publishes fail) or evicts
    queued tasks (`allkeys-lru`).
    """
    cache = settings.CACHES["default"]
    if not cache["BACKEND"].endswith("RedisCache"):
        return []
    server = _redis_server(cache["LOCATION"])
    if server is None or server != _redis_server(settings.CELERY_BROKER_URL):
        return []
    return [
        Warning(
            f"CACHE_URL names the broker's Redis server {server[0]}:{server[1]}.",
            hint="Run the cache on a Redis server of its own with maxmemory and "
            "maxmemory-policy allkeys-lru, and keep noeviction on the broker's (README, "
            "Configuration).",
            id="messaging.W001",
        )
    ]
