"""System checks of the messaging app: the cached lists need a cache every process shares.

The lists are invalidated by version tokens that writes replace (messaging/cache.py). With a
cache of each process's own (LocMemCache), a write served by one web process, or a notification
made by the worker, cannot reach the copies that the other processes keep: a sender's own new
message would be missing from the next list served by another process, for up to a minute.
Production settings require a shared cache (REQUIRE_SHARED_CACHE): `check --deploy` reports the
error, and every process refuses to start with it (MessagingConfig.ready).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

# Cache backends whose entries live inside one process.
PROCESS_LOCAL_BACKENDS = ("django.core.cache.backends.locmem.LocMemCache",)


def cache_is_per_process() -> bool:
    return settings.CACHES["default"]["BACKEND"] in PROCESS_LOCAL_BACKENDS


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
