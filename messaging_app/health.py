"""GET /api/health/: each dependency checked with a bounded timeout, and its latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks.selectors import broker_queue_length, workers_answering_ping

CHECK_TIMEOUT_SECONDS = 1.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    cache.set("health:probe", "ok", timeout=10)
    if cache.get("health:probe") != "ok":
        raise RuntimeError("cache did not return what was stored")


# The worker check waits at most this long for a ping reply (inside the one-second budget).
WORKER_PING_TIMEOUT_SECONDS = 0.8


def check_broker() -> None:
    """Connect to the broker and ask it for the default queue's length (redis, amqp, filesystem)."""
    broker_queue_length(timeout=CHECK_TIMEOUT_SECONDS)


def check_worker() -> None:
    """At least one worker answers a broadcast ping (the first reply ends the wait)."""
    if not workers_answering_ping(timeout=WORKER_PING_TIMEOUT_SECONDS, limit=1):
        raise RuntimeError(f"no worker answered a ping within {WORKER_PING_TIMEOUT_SECONDS:g}s")


# The checks `/api/health/` runs, in order.
CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
}


def _timed(check: Callable[[], None]) -> dict:
    started = time.perf_counter()
    try:
        check()
        ok, error = True, None
    except Exception as exc:  # a failed check is reported, never raised
        ok, error = False, f"{type(exc).__name__}: {exc}"
    result = {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if error:
        result["error"] = error
    return result


def run_checks(checks: dict[str, Callable[[], None]] | None = None) -> dict[str, dict]:
    checks = checks or CHECKS
    results: dict[str, dict] = {}
    # The database check runs in this thread (Django connections are per thread); the others
    # run in a pool so that each one is cut off after CHECK_TIMEOUT_SECONDS.
    pool = ThreadPoolExecutor(max_workers=max(1, len(checks)))
    try:
        futures = {
            name: pool.submit(_timed, check) for name, check in checks.items() if name != "database"
        }
        if "database" in checks:
            results["database"] = _timed(checks["database"])
        deadline = time.monotonic() + CHECK_TIMEOUT_SECONDS
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = {
                    "ok": False,
                    "latency_ms": CHECK_TIMEOUT_SECONDS * 1000,
                    "error": f"timed out after {CHECK_TIMEOUT_SECONDS:g}s",
                }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: results[name] for name in checks}


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
            503: inline_serializer(
                "HealthFailing",
                {
                    "status": serializers.CharField(),
                    "failing": serializers.ListField(child=serializers.CharField()),
                    "checks": serializers.DictField(),
                },
            ),
        }
    )
    def get(self, request):
        checks = run_checks()
        failing = [name for name, result in checks.items() if not result["ok"]]
        body = {"status": "ok" if not failing else "failing", "checks": checks}
        if failing:
            body["failing"] = failing
        return Response(body, status=503 if failing else 200)
