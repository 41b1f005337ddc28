"""Section 4: pipeline throughput and latency, one worker process (prefork, concurrency 2).

Throughput, side by side on the same broker and worker:
- no-op task rate: N `bench_noop` tasks (bench/tasks.py: the options, arguments and result
  storage of the real tasks, an empty body) queued while the worker is paused, then drained;
- notifications: N direct messages committed through `message_send` (in transactions of 500,
  so N outbox events and N published tasks) while the worker is paused, then drained: time from
  resuming until the last notification is committed (the latest `processed_at` of the events);
- the plain bulk insert of the same N notification rows, in this process: the database ceiling.
Pausing the consumer (Celery's cancel_consumer / add_consumer) makes both drains start from the
same full queue, so the producer's speed does not enter either rate. The same N messages with
the worker running from the start would measure the producer (its rate is printed), not the
pipeline.

Latency: messages sent one at a time at a steady rate; for each, the time from its commit to the
commit of the worker's transaction that created its notification (the event's `processed_at`,
stamped in that transaction just before it commits).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django_celery_results.models import TaskResult

from bench import data
from bench.harness import (
    Results,
    Sizes,
    ms,
    percentile,
    purge_queue,
    queue_length,
    section_header,
    set_consuming,
    stopwatch,
    worker,
)
from celery_app import app
from messaging import services
from messaging.models import Message, Notification
from outbox.models import OutboxEvent
from testkit import wait_until

SECTION = "4 pipeline"
BATCH = 500  # messages per producer transaction
NOTIFY_TASK = "notification_create_for_messages"


def _ts(value: datetime) -> float:
    return value.timestamp()


def _done(task_name: str) -> int:
    return TaskResult.objects.filter(task_name=task_name, status="SUCCESS").count()


def _wait_tasks(task_name: str, count: int, timeout: float) -> None:
    wait_until(lambda: _done(task_name) >= count, timeout=timeout, interval=0.1, what=task_name)


def _noop_rate(n: int, timeout: float) -> tuple[float, float]:
    TaskResult.objects.filter(task_name="bench_noop").delete()
    set_consuming(False)
    for _ in range(n):
        task_id = str(uuid.uuid4())
        app.send_task("bench_noop", kwargs={"event_id": task_id}, task_id=task_id, retry=False)
    started = time.time()
    set_consuming(True)
    _wait_tasks("bench_noop", n, timeout)
    last = TaskResult.objects.filter(task_name="bench_noop").aggregate(m=Max("date_done"))["m"]
    elapsed = _ts(last) - started
    return n / elapsed, elapsed


def _pairs(count: int) -> list[tuple]:
    users = data.make_users(2 * count, "p")
    return [(users[2 * i], users[2 * i + 1]) for i in range(count)]


def _commit_messages(pairs: list[tuple], n: int) -> tuple[int, float]:
    """Send n direct messages through the service, BATCH per transaction; return (first id, s)."""
    first_id = (Message.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    with stopwatch() as took:
        for start in range(0, n, BATCH):
            with transaction.atomic():
                for i in range(start, min(n, start + BATCH)):
                    sender, receiver = pairs[i % len(pairs)]
                    services.message_send(sender=sender, receiver=receiver, content=f"m{i}")
    return first_id, took[0]


def _notifications_since(first_id: int) -> int:
    return Notification.objects.filter(message_id__gte=first_id).count()


def _last_processed(since: datetime) -> float:
    last = OutboxEvent.objects.filter(
        task="notification_create_for_messages", created_at__gte=since
    ).aggregate(m=Max("processed_at"))["m"]
    return _ts(last)


def _purge_leftover_tasks() -> None:
    """Drop the queued notification tasks once every event is processed: each would only find
    its event done (their cost is one no-op-like task each; see BENCHMARKS.md)."""
    set_consuming(False)
    purge_queue()
    set_consuming(True)


def _notification_drain(pairs, n: int, timeout: float) -> dict[str, float]:
    TaskResult.objects.filter(task_name=NOTIFY_TASK).delete()
    set_consuming(False)
    since = datetime.now().astimezone()
    first_id, commit_seconds = _commit_messages(pairs, n)
    started = time.time()
    set_consuming(True)
    wait_until(
        lambda: _notifications_since(first_id) >= n,
        timeout=timeout,
        interval=0.05,
        what="notifications",
    )
    tasks_run = _done(NOTIFY_TASK)
    elapsed = _last_processed(since) - started
    _purge_leftover_tasks()
    return {
        "rate": n / elapsed,
        "elapsed": elapsed,
        "commit_seconds": commit_seconds,
        "tasks_run": tasks_run,
        "first_id": first_id,
    }


def _bulk_insert_rate(first_id: int, n: int) -> float:
    rows = list(
        Message.objects.filter(id__gte=first_id).order_by("id").values_list("id", "receiver_id")
    )[:n]
    Notification.objects.filter(message_id__gte=first_id).delete()
    from django.utils import timezone

    now = timezone.now()
    with stopwatch() as took, transaction.atomic():
        Notification.objects.bulk_create(
            [
                Notification(user_id=user_id, message_id=mid, created_at=now)
                for mid, user_id in rows
            ],
            batch_size=1_000,
        )
    return len(rows) / took[0]


def _steady_latency(
    pairs, rate: int, seconds: float, timeout: float
) -> tuple[list[float], float, int]:
    count = max(1, int(rate * seconds))
    period = 1.0 / rate
    committed: dict[int, float] = {}
    since = datetime.now().astimezone()
    next_at = time.perf_counter()
    began = time.perf_counter()
    for i in range(count):
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        next_at += period
        sender, receiver = pairs[i % len(pairs)]
        stamp: list[float] = []
        with transaction.atomic():
            # registered first, so it runs first after COMMIT, before the publish
            transaction.on_commit(lambda stamp=stamp: stamp.append(time.time()))
            message = services.message_send(sender=sender, receiver=receiver, content=f"s{i}")
        committed[message.pk] = stamp[0]
    achieved = count / (time.perf_counter() - began)
    queued_at_end = queue_length()
    first_id = min(committed)
    wait_until(
        lambda: _notifications_since(first_id) >= count,
        timeout=timeout,
        interval=0.05,
        what="notifications",
    )
    processed = {
        e.payload["message_id"]: e.processed_at
        for e in OutboxEvent.objects.filter(
            task="notification_create_for_messages", created_at__gte=since
        )
    }
    latencies = [ms(_ts(processed[mid]) - t) for mid, t in committed.items()]
    return latencies, achieved, queued_at_end


def _record_throughput(results: Results, sizes: Sizes, noop_rate, drain, bulk_rate) -> None:
    n = sizes.pipeline_messages
    results.add(
        SECTION, f"no-op task rate ({sizes.noop_tasks:,} queued tasks)", noop_rate, "tasks/s"
    )
    results.add(SECTION, f"plain bulk insert of {n:,} notification rows", bulk_rate, "rows/s")
    results.add(
        SECTION,
        f"producer: {n:,} messages committed via message_send",
        n / drain["commit_seconds"],
        "msgs/s",
    )
    note = f"all in {drain['elapsed']:.2f}s"
    results.add(
        SECTION,
        f"notifications/s ({n:,} queued messages drained)",
        drain["rate"],
        "notif/s",
        note=note,
    )
    results.add(
        SECTION, "notifications/s / no-op task rate", drain["rate"] / noop_rate, target=(">=", 1.0)
    )
    results.add(
        SECTION, "notifications/s / plain bulk insert (information)", drain["rate"] / bulk_rate
    )
    note = "the rest were purged: each would find its event done"
    results.add(
        SECTION, f"tasks run by then, of the {n:,} published", drain["tasks_run"], note=note
    )


def _record_latency(results: Results, rate: int, latencies, achieved, queued) -> None:
    note = f"{len(latencies)} messages"
    results.add(SECTION, f"steady {rate} msgs/s: achieved rate", achieved, "msgs/s", note=note)
    results.add(
        SECTION,
        f"steady {rate} msgs/s: tasks still queued when the last was sent",
        queued,
        note="grows when messages/s exceeds the task rate",
    )
    for p in (50, 95, 99):
        name = f"steady {rate} msgs/s: commit -> notification p{p}"
        results.add(SECTION, name, percentile(latencies, p), "ms")
    results.add(SECTION, f"steady {rate} msgs/s: commit -> notification max", max(latencies), "ms")
    results.series["pipeline_latency_ms"] = latencies
    results.series["pipeline_rate"] = rate


def run(results: Results, sizes: Sizes) -> None:
    n = sizes.pipeline_messages
    section_header(f"4. Pipeline: {n:,} messages, one worker (prefork, concurrency 2)")
    purge_queue()
    worker()
    timeout = 180.0 if sizes.name == "full" else 60.0
    pairs = _pairs(50)

    noop_rate, _ = _noop_rate(sizes.noop_tasks, timeout)
    drain = _notification_drain(pairs, n, timeout)
    bulk_rate = _bulk_insert_rate(drain["first_id"], n)
    _record_throughput(results, sizes, noop_rate, drain, bulk_rate)
    latencies, achieved, queued = _steady_latency(
        pairs, sizes.steady_rate, sizes.steady_seconds, timeout
    )
    _record_latency(results, sizes.steady_rate, latencies, achieved, queued)
