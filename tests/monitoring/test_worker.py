"""Monitoring with a real worker on Redis: task results in the API, progress, events, cleanup."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult

from celery_app import app
from messaging.models import Message
from outbox.models import OutboxEvent
from outbox.services import outbox_flush
from testkit import ROOT, WorkerProcess, client_for, free_port, wait_until, worker_env

PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def staff(make_user):
    return client_for(make_user(is_staff=True))


def test_a_real_task_shows_in_the_task_api(celery_worker_process, staff, alice, bob):
    response = client_for(alice).post(
        reverse("message-list"), {"receiver": bob.pk, "content": "hello"}, format="json"
    )
    event = OutboxEvent.objects.get(payload__message_id=response.json()["id"])
    wait_until(lambda: TaskResult.objects.filter(task_id=event.task_id, status="SUCCESS").exists())

    body = staff.get(reverse("task-detail", args=[event.task_id])).json()
    assert body["task_name"] == "notification_create_for_messages"
    assert body["state"] == "SUCCESS"
    assert body["worker"] == celery_worker_process.hostname
    assert event.task_id in body["kwargs"]
    assert body["result"] >= 1  # events drained by this run, ours among them
    assert body["date_started"] is not None
    assert 0 <= body["runtime_seconds"] < 10
    assert body["retries"] == 0
    # the worker ran our task_prerun receiver: the stored meta carries the retry count
    assert json.loads(TaskResult.objects.get(task_id=event.task_id).meta)["retries"] == 0

    listed = staff.get(reverse("task-list"), {"task_name": "notification_create_for_messages"})
    assert event.task_id in [row["task_id"] for row in listed.json()["results"]]

    stats = staff.get(reverse("task-stats")).json()
    assert stats["by_task_name"]["notification_create_for_messages"] >= 1
    assert stats["by_state"]["SUCCESS"] >= 1
    assert stats["runtime_seconds"]["count"] >= 1
    assert celery_worker_process.hostname in stats["workers"]["answering"]
    assert stats["broker"]["length"] == 0  # the worker took everything


@contextmanager
def routed(task_name: str, queue: str):
    """Send `task_name` from this process to `queue` (the router caches the routes table)."""
    previous = app.conf.task_routes

    def install(routes) -> None:
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.router = app.amqp.Router()

    install({task_name: {"queue": queue}})
    try:
        yield
        outbox_flush()  # publishes run on the publisher thread: let them see this route
    finally:
        install(previous)


def test_account_purge_reports_progress_in_the_task_api(
    celery_worker_process, staff, make_user, alice, tmp_path
):
    """The purge of 3,000 messages in batches of 50 shows PROGRESS {done, total} while it runs.

    A dedicated worker with a small PURGE_BATCH_SIZE consumes a queue of its own, so the session
    worker (default batch size) does not take the task.
    """
    queue = f"purge-progress-{time.monotonic_ns()}"
    worker = WorkerProcess(
        concurrency=1,
        extra_args=["-Q", queue],
        env={"PURGE_BATCH_SIZE": "50", "PURGE_BATCH_PAUSE_SECONDS": "0"},
        log_path=tmp_path / "purge-worker.log",
    ).wait_ready()
    try:
        dave = make_user("dave")
        Message.objects.bulk_create(
            Message(sender=dave, receiver=alice, content=f"m{i}") for i in range(3_000)
        )
        with routed("user_data_purge", queue):
            response = client_for(dave).post(
                reverse("delete-user"), {"password": PASSWORD}, format="json"
            )
        assert response.status_code == 202
        task_id = response.json()["task_id"]

        url = reverse("task-detail", args=[task_id])
        observed = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = staff.get(url)
            if response.status_code == 200:
                body = response.json()
                if body["state"] == "PROGRESS":
                    observed.append(body["progress"])
                if body["state"] in ("SUCCESS", "FAILURE"):
                    break
            time.sleep(0.01)
        assert body["state"] == "SUCCESS", body
        assert body["result"] == {"done": 3_000, "total": 3_000}
        assert body["worker"] == worker.hostname
        assert body["progress"] is None
        assert observed, "no PROGRESS state was seen while the purge ran"
        assert all(p["total"] == 3_000 and 0 <= p["done"] <= 3_000 for p in observed), observed
        assert any(p["done"] < p["total"] for p in observed), observed
        dones = [p["done"] for p in observed]
        assert dones == sorted(dones)
        assert not Message.objects.filter(sender_id=dave.pk).exists()
    finally:
        worker.stop()


def test_worker_emits_task_events_that_a_monitor_receives(celery_worker_process):
    """What Flower does: an event receiver on the broker sees our task sent, received, done."""
    seen: dict[str, dict[str, float]] = defaultdict(dict)  # task id -> event type -> time
    listening = threading.Event()
    stop = threading.Event()

    def monitor() -> None:
        with app.connection_for_read() as conn:

            def on_event(event: dict) -> None:
                listening.set()  # the wakeup makes the workers answer with a heartbeat
                if "uuid" in event:
                    seen[event["uuid"]][event["type"]] = event["timestamp"]
                if stop.is_set():
                    receiver.should_stop = True

            receiver = app.events.Receiver(conn, handlers={"*": on_event})
            receiver.capture(limit=None, timeout=None, wakeup=True)

    thread = threading.Thread(target=monitor, daemon=True)
    thread.start()
    try:
        wait_until(listening.is_set, timeout=15)
        result = app.send_task("outbox_prune")
        wanted = ["task-sent", "task-received", "task-started", "task-succeeded"]
        wait_until(lambda: set(wanted) <= set(seen[result.id]), timeout=20)
        # The producer sends `task-sent` after publishing, so only the worker's events have a
        # fixed order; their clocks tell it (events of two senders may arrive in any order).
        times = [seen[result.id][kind] for kind in wanted[1:]]
        assert times == sorted(times)
    finally:
        stop.set()
        thread.join(timeout=10)  # the next heartbeat (every 2 s) lets the receiver stop
    assert not thread.is_alive()


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
        return json.loads(response.read())


def test_flower_lists_a_task_of_the_worker(celery_worker_process, tmp_path):
    """Flower, started as `make run` starts it, shows our task and the worker through its API."""
    import subprocess
    import sys

    port = free_port()
    log = open(tmp_path / "flower.log", "w")  # noqa: SIM115 - closed below
    flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            "--persistent=False",
            "--inspect_timeout=1000",
        ],
        cwd=ROOT,
        env=worker_env(FLOWER_UNAUTHENTICATED_API="true"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            assert flower.poll() is None, (tmp_path / "flower.log").read_text()
            try:
                return urllib.request.urlopen(base + "/healthcheck", timeout=1).status == 200  # noqa: S310
            except OSError:
                return False

        wait_until(answers, timeout=20, interval=0.2)
        time.sleep(0.5)  # Flower's event consumer starts right after the web server
        result = app.send_task("outbox_prune")

        def listed():
            tasks = _get_json(base + "/api/tasks")
            return tasks.get(result.id, {}).get("state") == "SUCCESS" and tasks[result.id]

        task = wait_until(listed, timeout=20, interval=0.2)
        assert task["name"] == "outbox_prune"
        assert task["worker"] == celery_worker_process.hostname
        # Flower reads task results from the result backend too (the purge's PROGRESS shows there)
        stored = _get_json(f"{base}/api/task/result/{result.id}")
        assert stored["state"] == "SUCCESS"
    finally:
        flower.terminate()
        try:
            flower.wait(timeout=10)
        except subprocess.TimeoutExpired:
            flower.kill()
            flower.wait(timeout=10)
        log.close()


def test_backend_cleanup_removes_expired_results_and_keeps_fresh_ones(celery_worker_process):
    expired_at = timezone.now() - settings.CELERY_RESULT_EXPIRES - timedelta(hours=1)
    fresh_at = timezone.now() - settings.CELERY_RESULT_EXPIRES + timedelta(hours=1)
    for task_id in ("expired", "fresh"):
        TaskResult.objects.create(task_id=task_id, task_name="outbox_prune", status="SUCCESS")
    TaskResult.objects.filter(task_id="expired").update(date_done=expired_at)
    TaskResult.objects.filter(task_id="fresh").update(date_done=fresh_at)

    # The task beat runs daily, run by the worker now.
    entry = settings.CELERY_BEAT_SCHEDULE["celery.backend_cleanup"]
    result = app.send_task(entry["task"])
    wait_until(lambda: TaskResult.objects.filter(task_id=result.id, status="SUCCESS").exists())
    assert not TaskResult.objects.filter(task_id="expired").exists()
    assert TaskResult.objects.filter(task_id="fresh").exists()
