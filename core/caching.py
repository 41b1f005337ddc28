"""What kind of cache the project runs on."""

from django.conf import settings

# Cache backends whose entries live inside one process.
PROCESS_LOCAL_BACKENDS = ("django.core.cache.backends.locmem.LocMemCache",)


def cache_is_per_process() -> bool:
    """A process's own cache: what another process (the worker, another web process) writes or
    invalidates there never reaches it."""
    return settings.CACHES["default"]["BACKEND"] in PROCESS_LOCAL_BACKENDS
