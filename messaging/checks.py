"""System checks: the list cache must not be able to fill the Redis server of the broker."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

_LOOPBACK = {"", "localhost", "127.0.0.1", "::1"}


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
