"""Section 5: deleting an account with 100,000 messages, while someone else keeps writing.

- The API call (POST /api/messaging/delete-user/) is timed for the big account and, side by
  side, for an account with no messages: the call must not depend on the data.
- Rows purged per second: the purge task's own count of removed rows divided by the time from
  the API's answer to the task's commit (the outbox event's processed_at).
- The concurrent writer: another process (bench/writer.py) posting direct messages between two
  other users through the API in a loop, before (baseline) and during the purge; its longest
  request is the stall.
The messages are bulk-inserted (no signals), as a long history would already be in the table.
"""

from __future__ import annotations

import json
import multiprocessing
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from bench import data, writer
from bench.harness import (
    Results,
    Sizes,
    median,
    ms,
    percentile,
    purge_queue,
    section_header,
    stopwatch,
    worker,
)
from messaging.models import Message
from outbox.models import OutboxEvent
from testkit import client_for, wait_until

SECTION = "5 purge"


class Writer:
    """bench/writer.py in a spawned process: posts until stopped, then reports its samples."""

    def __init__(self, sender, receiver) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop_event = context.Event()
        self.queue = context.Queue()
        self.process = context.Process(
            target=writer.main,
            args=(sender.pk, receiver.pk, self.stop_event, self.queue),
            daemon=True,
        )
        self.samples: list[tuple[float, float]] = []
        self.failures: list[str] = []

    def start(self) -> None:
        self.process.start()
        if self.queue.get(timeout=60) != "ready":
            raise RuntimeError("the writer did not start")

    def stop(self) -> None:
        self.stop_event.set()
        try:
            self.samples, self.failures = self.queue.get(timeout=30)
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=5)

    def latencies(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the posts that were in flight at some time in [start, end)."""
        return [ms(latency) for t, latency in self.samples if t < end and t + latency > start]


PASSWORD = "bench-password-not-secret"


def _delete(user) -> tuple[float, str, int]:
    """Time the API call; return (seconds, task id, SQL queries it ran)."""
    user.set_password(PASSWORD)  # the call asks for it again
    user.save(update_fields=["password"])
    client = client_for(user)
    body = {"password": PASSWORD}
    with CaptureQueriesContext(connection) as queries, stopwatch() as took:
        response = client.post("/api/messaging/delete-user/", body, format="json")
    if response.status_code != 202:
        raise AssertionError(f"delete-user: {response.status_code} {response.content!r}")
    return took[0], response.json()["task_id"], len(queries.captured_queries)


def _processed(task_id: str):
    return OutboxEvent.objects.filter(pk=task_id, processed_at__isnull=False).first()


def _deletions(victim, empties, poster: Writer, sizes: Sizes, timeout: float) -> dict:
    """Delete the empty accounts, then the big one, under the concurrent writer."""
    time.sleep(sizes.writer_baseline_seconds)
    out = {"writer_baseline_end": time.time()}
    # The first empty account pays for imports and warm-up and is not counted.
    empty_runs = []
    for account in empties:
        empty_runs.append(_delete(account))
        wait_until(lambda t=empty_runs[-1][1]: _processed(t), timeout=timeout, what="a purge")
    out["empty_seconds"] = median([run[0] for run in empty_runs[1:]])
    out["empty_queries"] = empty_runs[-1][2]
    out["api_started"] = time.time()
    out["api_seconds"], out["task_id"], out["api_queries"] = _delete(victim)
    out["answered"] = out["api_started"] + out["api_seconds"]
    event = wait_until(
        lambda: _processed(out["task_id"]), timeout=timeout, interval=0.05, what="the purge"
    )
    out["finished"] = event.processed_at.timestamp()
    time.sleep(min(1.0, sizes.writer_baseline_seconds))
    return out


def _check_purged(victim, task_id: str, n: int) -> int:
    left = (
        Message.objects.filter(sender_id=victim.pk).count()
        + Message.objects.filter(receiver_id=victim.pk).count()
    )
    if left:
        raise AssertionError(f"{left} messages of the deleted account are left")
    task = TaskResult.objects.filter(task_id=task_id).first()
    return json.loads(task.result)["done"] if task and task.result else n


def _record(results: Results, n: int, run: dict, purged: int, poster: Writer) -> None:
    api_seconds, empty_seconds = run["api_seconds"], run["empty_seconds"]
    name = f"delete-user API call, {n:,} messages"
    results.add(SECTION, name, ms(api_seconds), "ms", target=("<", 50))
    results.add(SECTION, "delete-user API call, no messages (median of 3)", ms(empty_seconds), "ms")
    name = f"delete-user API call: SQL queries, {n:,} messages / none"
    note = f"{run['empty_queries']} q for the empty account"
    results.add(SECTION, name, run["api_queries"], "q", note=note)
    results.add(SECTION, "API call: big account / empty account", api_seconds / empty_seconds)
    seconds = run["finished"] - run["answered"]
    note = f"{purged:,} rows in {seconds:.1f}s"
    results.add(SECTION, "rows purged per second", purged / seconds, "rows/s", note=note)
    baseline = poster.latencies(0, run["writer_baseline_end"])
    during = poster.latencies(run["api_started"], run["finished"])
    if not during:
        raise AssertionError("the writer made no request during the purge")
    note = f"max {max(baseline):.1f} ms, {len(baseline)} posts"
    results.add(SECTION, "writer before the purge: p99", percentile(baseline, 99), "ms", note=note)
    note = f"{len(during)} posts"
    results.add(SECTION, "writer during the purge: p99", percentile(during, 99), "ms", note=note)
    results.add(SECTION, "writer during the purge: longest stall (max latency)", max(during), "ms")


def run(results: Results, sizes: Sizes) -> None:
    n = sizes.purge_messages
    section_header(f"5. Account purge: {n:,} messages, a concurrent writer")
    purge_queue()
    worker()
    victim, peer, w_sender, w_receiver, *empties = data.make_users(8, "purge")
    half = n // 2
    with stopwatch() as built:
        data.bulk_messages(
            [{"sender_id": victim.pk, "receiver_id": peer.pk}] * half
            + [{"sender_id": peer.pk, "receiver_id": victim.pk}] * (n - half)
        )
    print(f"  ({n:,} messages bulk-inserted in {built[0]:.1f}s)")
    timeout = 240.0 if sizes.name == "full" else 60.0
    poster = Writer(w_sender, w_receiver)
    poster.start()
    try:
        deletions = _deletions(victim, empties, poster, sizes, timeout)
    finally:
        poster.stop()
    if poster.failures:
        raise AssertionError(f"the writer failed: {poster.failures[:3]}")
    purged = _check_purged(victim, deletions["task_id"], n)
    _record(results, n, deletions, purged, poster)
    purge_queue()
