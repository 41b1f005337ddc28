"""Reads for task monitoring: stored task results, their statistics, the broker and the workers.

Task results are django-celery-results' `TaskResult` rows (CELERY_RESULT_EXTENDED stores the
task name, arguments and worker; task_track_started stores `date_started`). Everything that talks
to the broker is bounded by a timeout, so a dead broker or an idle cluster never stalls a request.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any

from celery import states
from django.db.models import Count, DurationField, ExpressionWrapper, F, QuerySet
from django.utils import timezone
from django_celery_results.models import TaskResult

# The custom state long tasks publish with `update_state(state=PROGRESS, meta={done, total})`.
PROGRESS = "PROGRESS"
# States whose runtime is meaningful (the task ran and ended).
FINISHED_STATES = (states.SUCCESS, states.FAILURE)
ALL_STATES = sorted({*states.ALL_STATES, PROGRESS})

RUNTIME = ExpressionWrapper(F("date_done") - F("date_started"), output_field=DurationField())


def task_result_list() -> QuerySet[TaskResult]:
    """Every stored task result; the caller orders and pages it (newest first in the API)."""
    return TaskResult.objects.all()


def task_result_get(*, task_id: str) -> TaskResult | None:
    return TaskResult.objects.filter(task_id=task_id).first()


def decode_json(value: str | None) -> Any:
    """A JSON column of TaskResult (we only accept JSON content), or the raw text if it is not."""
    if value in (None, ""):
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def task_result_runtime(task: TaskResult) -> float | None:
    """Seconds from start to end of a finished task; None while it runs or if it never started."""
    if task.status not in FINISHED_STATES or not (task.date_started and task.date_done):
        return None
    return max(0.0, (task.date_done - task.date_started).total_seconds())


def task_result_progress(task: TaskResult) -> dict[str, int] | None:
    """`{done, total}` of a task in the PROGRESS state, as its last `update_state` stored it."""
    if task.status != PROGRESS:
        return None
    meta = decode_json(task.result)
    if isinstance(meta, dict) and {"done", "total"} <= meta.keys():
        return {"done": meta["done"], "total": meta["total"]}
    return None


def task_result_retries(task: TaskResult) -> int:
    """How often the task was retried (monitoring/signals.py records it in the stored meta)."""
    meta = decode_json(task.meta)
    return int(meta.get("retries") or 0) if isinstance(meta, dict) else 0


def _percentile(queryset: QuerySet[TaskResult], count: int, fraction: float) -> float | None:
    """Nearest-rank percentile of the runtimes, computed by the database (one row fetched)."""
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    runtime = queryset.order_by("runtime").values_list("runtime", flat=True)[rank - 1]
    return round(runtime.total_seconds(), 6)


def task_stats(*, window: timedelta, now: datetime | None = None) -> dict[str, Any]:
    """Counts by state and by task name, runtime p50/p95 and failure rate over the window.

    A task counts in the window when its last state change (`date_done`, which
    django-celery-results updates on every store) falls inside it.
    """
    now = now or timezone.now()
    recent = TaskResult.objects.filter(date_done__gte=now - window, date_done__lte=now)
    by_state = {
        row["status"]: row["n"]
        for row in recent.values("status").annotate(n=Count("id")).order_by("status")
    }
    by_task_name = {
        row["task_name"] or "": row["n"]
        for row in recent.values("task_name").annotate(n=Count("id")).order_by("task_name")
    }
    timed = recent.filter(status__in=FINISHED_STATES, date_started__isnull=False).annotate(
        runtime=RUNTIME
    )
    timed_count = timed.count()
    succeeded = by_state.get(states.SUCCESS, 0)
    failed = by_state.get(states.FAILURE, 0)
    finished = succeeded + failed
    return {
        "window_seconds": int(window.total_seconds()),
        "since": now - window,
        "until": now,
        "total": sum(by_state.values()),
        "by_state": by_state,
        "by_task_name": by_task_name,
        "runtime_seconds": {
            "count": timed_count,
            "p50": _percentile(timed, timed_count, 0.50),
            "p95": _percentile(timed, timed_count, 0.95),
        },
        "failure_rate": round(failed / finished, 4) if finished else None,
    }


# --- Broker and workers (bounded) -----------------------------------------------------------


def broker_queue_length(*, queue: str | None = None, timeout: float = 0.5) -> int:
    """Messages waiting in a broker queue (the default queue unless named).

    Redis: LLEN of the queue's lists; filesystem: the files waiting; AMQP: a passive declare.
    """
    from celery_app import app

    queue = queue or app.conf.task_default_queue
    with app.connection_for_read(connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        channel = conn.default_channel
        if hasattr(channel, "_size"):  # kombu's virtual transports (redis, filesystem, ...)
            return int(channel._size(queue))
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except conn.channel_errors:  # AMQP: the queue was never declared, so nothing waits
            return 0


class _PingReplies:
    """Collects ping replies as they come; `done` is set at `limit` replies or at the end."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.names: list[str] = []
        self.lock = threading.Lock()
        self.done, self.connected = threading.Event(), threading.Event()
        self.failures: list[Exception] = []

    def on_reply(self, reply: dict) -> None:
        with self.lock:
            self.names.extend(reply)
            if self.limit and len(self.names) >= self.limit:
                self.done.set()

    def broadcast(self, timeout: float) -> None:
        from celery_app import app

        # Redis blocks for `polling_interval` (BRPOP, default 1 s) while it waits for replies.
        options = {"polling_interval": min(0.1, timeout)}
        try:
            with app.connection_for_write(
                connect_timeout=timeout, transport_options=options
            ) as conn:
                conn.ensure_connection(max_retries=0, timeout=timeout)
                self.connected.set()
                app.control.ping(
                    timeout=timeout, connection=conn, limit=self.limit, callback=self.on_reply
                )
        except Exception as exc:  # reported by the caller unless some worker answered anyway
            self.failures.append(exc)
        finally:
            self.done.set()


def workers_answering_ping(*, timeout: float = 0.5, limit: int | None = None) -> list[str]:
    """Names of the workers that answer a broadcast ping within `timeout` seconds in all.

    Celery's ping waits `timeout` after each reply; here the replies are collected as they come
    and the wait ends at `timeout` overall, or as soon as `limit` workers answered. The replies
    come on a connection of its own, whose short polling interval lets the wait end on time.
    """
    replies = _PingReplies(limit)
    threading.Thread(
        target=replies.broadcast, args=(timeout,), name="ping-workers", daemon=True
    ).start()
    replies.done.wait(timeout)
    with replies.lock:
        names = sorted(set(replies.names))
    if replies.failures and not names:
        raise replies.failures[0]
    if not replies.connected.is_set():
        raise TimeoutError(f"the broker did not answer within {timeout:g}s")
    return names


def _outcome(call: Callable[[], Any]) -> Callable[[], tuple[Any, str | None, float]]:
    def run() -> tuple[Any, str | None, float]:
        started = time.perf_counter()
        try:
            return call(), None, time.perf_counter() - started
        except Exception as exc:  # reported to the caller, never raised
            return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started

    return run


def call_bounded(
    calls: dict[str, Callable[[], Any]],
    *,
    timeout: float,
    in_caller_thread: set[str] = frozenset(),
) -> dict[str, tuple[Any, str | None, float]]:
    """Run the calls side by side; each gives `(value, error, seconds)` by `timeout`.

    Calls named in `in_caller_thread` run in this thread (e.g. a database query, as Django's
    connections are per thread) while the others run in a pool; the answers keep `calls`' order.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, len(calls)))
    results: dict[str, tuple[Any, str | None, float]] = {}
    try:
        futures = {
            name: pool.submit(_outcome(call))
            for name, call in calls.items()
            if name not in in_caller_thread
        }
        for name in in_caller_thread & calls.keys():
            results[name] = _outcome(calls[name])()
        deadline = time.monotonic() + timeout
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = (None, f"timed out after {timeout:g}s", timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: results[name] for name in calls}
