"""The health checks: each dependency probed with a bounded timeout, and its latency."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

from monitoring.selectors import broker_queue_length, call_bounded, workers_answering_ping
from outbox.selectors import outbox_dead_count

CHECK_TIMEOUT_SECONDS = 1.0
# The worker check waits at most this long for a ping reply (inside the one-second budget).
WORKER_PING_TIMEOUT_SECONDS = 0.8


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    cache.set("health:probe", "ok", timeout=10)
    if cache.get("health:probe") != "ok":
        raise RuntimeError("cache did not return what was stored")


def check_broker() -> None:
    """Connect to the broker and ask it for the default queue's length (redis, amqp, filesystem)."""
    broker_queue_length(timeout=CHECK_TIMEOUT_SECONDS)


def check_worker() -> None:
    """At least one worker answers a broadcast ping (the first reply ends the wait)."""
    if not workers_answering_ping(timeout=WORKER_PING_TIMEOUT_SECONDS, limit=1):
        raise RuntimeError(f"no worker answered a ping within {WORKER_PING_TIMEOUT_SECONDS:g}s")


class Degraded(Exception):
    """The dependency answers, but work is stuck: the health check says `degraded`, not 503."""


def check_outbox() -> None:
    """No outbox event is dead (resent OUTBOX_MAX_ATTEMPTS times and never done)."""
    dead = outbox_dead_count()
    if dead:
        raise Degraded(
            f"{dead} outbox events are dead; see the admin, then "
            "`manage.py outbox_relay --retry-dead`"
        )


# The checks `/api/health/` runs, in order.
CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
    "outbox": check_outbox,
}
# Checks that use the database run in the request's thread (connections are per thread).
IN_REQUEST_THREAD = {"database", "outbox"}


def _timed(check: Callable[[], None]) -> Callable[[], dict]:
    def run() -> dict:
        started = time.perf_counter()
        check()
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    return run


def run_checks(checks: dict[str, Callable[[], None]] | None = None) -> dict[str, dict]:
    """Run the checks side by side, each cut off after CHECK_TIMEOUT_SECONDS.

    The checks that use the database run in this thread: Django's connections are per thread.
    """
    checks = checks or CHECKS
    answers = call_bounded(
        {name: _timed(check) for name, check in checks.items()},
        timeout=CHECK_TIMEOUT_SECONDS,
        in_caller_thread=IN_REQUEST_THREAD,
    )
    results = {}
    for name, (value, error, elapsed) in answers.items():
        results[name] = value or {"ok": False, "latency_ms": round(elapsed * 1000, 2)}
        if error and error.startswith(f"{Degraded.__name__}:"):
            results[name].update(ok=True, degraded=True)
        if error:
            results[name]["error"] = error
    return results
