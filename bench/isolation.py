"""Section 8: a purge of 100,000 messages does not delay notifications (queues of their own).

One worker node consumes the latency queue (notifications, history, the relay) and another
the bulk queue (the purge, the prunes), as in the reference deployment (`make cluster`). Messages
are sent at a steady rate, each timed from its commit to the commit of its notification, first
with nothing else running (idle), then while the purge of a 100,000-message account runs. The
target: the p99 during the purge stays within 2x the idle p99, both measured in this run.
"""

from __future__ import annotations

import time

from django.db import transaction

from bench import data
from bench.harness import (
    Results,
    Sizes,
    ms,
    percentile,
    purge_queue,
    section_header,
    start_worker,
    stop_worker,
)
from bench.pipeline import _pairs, _ts
from messaging import services
from outbox.models import OutboxEvent
from testkit import client_for, wait_until

SECTION = "8 isolation"
PASSWORD = "bench-password-not-secret"


def _send(pairs, rate: int, *, keep_going) -> dict[int, float]:
    """Send messages at `rate` per second while `keep_going()`; {message id: commit time}."""
    committed: dict[int, float] = {}
    next_at, i = time.perf_counter(), 0
    while keep_going():
        time.sleep(max(0.0, next_at - time.perf_counter()))
        next_at += 1.0 / rate
        sender, receiver = pairs[i % len(pairs)]
        stamp: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda stamp=stamp: stamp.append(time.time()))
            message = services.message_send(sender=sender, receiver=receiver, content=f"i{i}")
        committed[message.pk] = stamp[0]
        i += 1
    return committed


def _latencies(committed: dict[int, float], timeout: float) -> list[float]:
    """Commit -> notification (the event's processed_at), in ms, once all are processed."""

    def processed() -> dict[int, float] | None:
        rows = OutboxEvent.objects.filter(
            task=services.NOTIFY_TASK,
            payload__message_id__in=list(committed),
            processed_at__isnull=False,
        ).values_list("payload", "processed_at")
        found = {payload["message_id"]: _ts(at) for payload, at in rows}
        return found if len(found) == len(committed) else None

    done = wait_until(processed, timeout=timeout, interval=0.2, what="notifications")
    return [ms(done[mid] - t) for mid, t in committed.items()]


def _purge_running(task_id: str) -> bool:
    return not OutboxEvent.objects.filter(pk=task_id, processed_at__isnull=False).exists()


def _measure(victim, pairs, sizes: Sizes, timeout: float) -> dict:
    rate = sizes.isolation_rate
    until = time.monotonic() + sizes.isolation_idle_seconds
    idle = _send(pairs, rate, keep_going=lambda: time.monotonic() < until)
    victim.set_password(PASSWORD)  # the call asks for it again
    victim.save(update_fields=["password"])
    body = {"password": PASSWORD}
    response = client_for(victim).post("/api/messaging/delete-user/", body, format="json")
    assert response.status_code == 202, response.content
    task_id, started = response.json()["task_id"], time.monotonic()
    deadline = started + timeout
    during = _send(
        pairs, rate, keep_going=lambda: _purge_running(task_id) and time.monotonic() < deadline
    )
    purge_seconds = time.monotonic() - started
    if _purge_running(task_id):
        raise RuntimeError(f"the purge did not finish within {timeout:.0f}s")
    return {
        "idle": _latencies(idle, timeout),
        "during": _latencies(during, timeout),
        "purge_seconds": purge_seconds,
    }


def _record(results: Results, n: int, measured: dict) -> None:
    idle, during = measured["idle"], measured["during"]
    p99_idle, p99_during = percentile(idle, 99), percentile(during, 99)
    note = f"{len(idle)} messages, p50 {percentile(idle, 50):.1f} ms"
    results.add(SECTION, "idle: commit -> notification p99", p99_idle, "ms", note=note)
    note = f"{len(during)} messages in {measured['purge_seconds']:.1f}s, max {max(during):.0f} ms"
    name = f"during a purge of {n:,} messages: p99"
    results.add(SECTION, name, p99_during, "ms", note=note)
    name = "p99 during the purge / idle p99"
    results.add(SECTION, name, p99_during / p99_idle, target=("<=", 2.0))


def run(results: Results, sizes: Sizes) -> None:
    n = sizes.purge_messages
    section_header(f"8. Isolation: notifications while {n:,} messages are purged (2 nodes)")
    stop_worker()  # the shared worker consumes every queue: not this topology
    purge_queue()
    from django.conf import settings

    from celery_app import app

    latency = start_worker(concurrency=2, queues=app.conf.task_default_queue, name="w-latency")
    bulk = start_worker(concurrency=1, queues=settings.BULK_QUEUE, name="w-bulk")
    try:
        victim, peer = data.make_users(2, "iso")
        half = n // 2
        data.bulk_messages(
            [{"sender_id": victim.pk, "receiver_id": peer.pk}] * half
            + [{"sender_id": peer.pk, "receiver_id": victim.pk}] * (n - half)
        )
        measured = _measure(victim, _pairs(20), sizes, 240.0 if sizes.name == "full" else 60.0)
    finally:
        latency.stop()
        bulk.stop()
        purge_queue()
    _record(results, n, measured)
