"""Two beats started by mistake never run a periodic task twice at the same time: each of our
periodic tasks runs alone (tasks/periodic.py), and a copy that finds its lock taken skips.

Real worker processes on the real broker. On PostgreSQL the lock is an advisory lock; elsewhere
the shared cache's `add`, so the workers and this process share a throwaway Redis cache.
"""

from __future__ import annotations

import itertools
import re
import threading

import pytest
from django.db import connection
from django.test import override_settings
from django_celery_results.models import TaskResult

from celery_app import app
from tasks import maintenance
from tasks.periodic import run_alone
from testkit import RedisServer, WorkerProcess, purge_broker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PROBE = "tests.tasks.lock_probe"


@pytest.fixture(scope="module")
def shared_cache():
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def two_workers(django_db_setup, django_db_blocker, shared_cache):
    """Two worker nodes, as the tasks of two beats would meet in a cluster."""
    from django.conf import settings

    purge_broker(settings.CELERY_BROKER_URL)
    workers = [
        WorkerProcess(env={"CACHE_URL": shared_cache}, extra_args=["--include", PROBE])
        for _ in range(2)
    ]
    for worker in workers:
        worker.wait_ready()
    yield workers
    for worker in workers:
        worker.stop()
    purge_broker(settings.CELERY_BROKER_URL)


@pytest.fixture
def cache_of_the_workers(shared_cache):
    backend = {"BACKEND": "core.redis_cache.RedisCache", "LOCATION": shared_cache}
    with override_settings(CACHES={"default": backend}):
        yield


def _held_elsewhere(name: str, release: threading.Event, taken: threading.Event) -> None:
    """Hold the lock in another thread (its own database connection), as another run would."""
    try:
        with run_alone(name, seconds=60) as held:
            assert held
            taken.set()
            release.wait(30)
    finally:
        connection.close()


def _runs(task_ids: list[str]) -> list[TaskResult]:
    return wait_until(
        lambda: (
            rows
            if len(rows := list(TaskResult.objects.filter(task_id__in=task_ids, status="SUCCESS")))
            == len(task_ids)
            else None
        ),
        timeout=60,
        what="every copy of the task",
    )


def test_a_run_skips_while_another_holds_the_lock(cache_of_the_workers):
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=_held_elsewhere, args=("some_task", release, taken))
    holder.start()
    try:
        assert taken.wait(10)
        with run_alone("some_task", seconds=60) as held:
            assert held is False
    finally:
        release.set()
        holder.join(10)
    with run_alone("some_task", seconds=60) as held:
        assert held is True


_LOCK_LINE = re.compile(r"^\[(\S+ \S+): INFO/[^]]+\] periodic lock (\S+): (taken|released|held)")


def _lock_windows(workers: list[WorkerProcess], name: str) -> tuple[list[tuple], int]:
    """(taken, released) times of every run that held the lock, from the workers' logs (one
    clock: one machine), and how many copies skipped."""
    events = []
    for worker in workers:
        for line in worker.log().splitlines():
            match = _LOCK_LINE.match(line)
            if match and match[2] == name:
                events.append((worker.hostname, match[1], match[3]))
    windows, taken = [], {}
    for host, stamp, what in sorted(events, key=lambda e: e[1]):
        if what == "taken":
            taken.setdefault(host, []).append(stamp)
        elif what == "released":
            windows.append((taken[host].pop(0), stamp))
    # Runs still holding the lock: (taken, None).
    windows += [(stamp, None) for stamps in taken.values() for stamp in stamps]
    return windows, sum(1 for e in events if e[2] == "held")


def test_copies_sent_at_once_by_two_beats_never_overlap(two_workers, cache_of_the_workers):
    """Four copies at once on two nodes (concurrency 2 each), each holding the lock for a second
    if it gets it: the runs that held it never overlap, and the others skip."""
    runs = _runs([app.send_task("test_lock_probe", args=[1.0]).id for _ in range(4)])
    assert sorted(r.result for r in runs).count("true") >= 1
    windows, skipped = wait_until(
        lambda: (
            found
            if len((found := _lock_windows(two_workers, "test_lock_probe"))[0]) + found[1] == 4
            else None
        ),
        timeout=10,
        what="the lock lines of four runs in the workers' logs",
    )
    windows.sort()
    for (_, released), (taken, _) in itertools.pairwise(windows):
        assert released <= taken, f"two runs held the lock at once: {windows}"
    assert skipped >= 1, "no copy met the lock: the test proves nothing"


@pytest.mark.parametrize(
    "task", ["outbox_relay", "outbox_prune", "task_results_cleanup", "flush_expired_tokens"]
)
def test_every_periodic_task_skips_while_its_lock_is_held(task):
    """Each task beat sends runs under its lock (run here, in this process, on the lock)."""
    from django.conf import settings

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert task in scheduled
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=_held_elsewhere, args=(task, release, taken))
    holder.start()
    try:
        assert taken.wait(10)
        assert getattr(maintenance, task).apply().get() is None  # skipped
    finally:
        release.set()
        holder.join(10)
    assert getattr(maintenance, task).apply().get() is not None  # ran


def test_a_held_lock_makes_every_copy_skip(two_workers, cache_of_the_workers):
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=_held_elsewhere, args=("outbox_relay", release, taken))
    holder.start()
    try:
        assert taken.wait(10)
        runs = _runs([app.send_task("outbox_relay").id for _ in range(3)])
    finally:
        release.set()
        holder.join(10)
    assert [r.result for r in runs] == ["null"] * 3
    (after,) = _runs([app.send_task("outbox_relay").id])
    assert after.result == "0"
