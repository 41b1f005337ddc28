"""GET /api/health/: database, cache, broker, worker and outbox, each bounded; 503 names what
fails, `degraded` (200) says work is stuck."""

from __future__ import annotations

import socket
import time

import pytest
from django.urls import reverse

from testkit import client_for, free_port, use_broker

pytestmark = pytest.mark.django_db

ALL_CHECKS = {"database", "cache", "broker", "worker", "outbox"}


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield silent.getsockname()[1]


@pytest.fixture
def staff(make_user):
    return client_for(make_user(is_staff=True))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthy_with_a_worker_up(celery_worker_process, staff):
    started = time.monotonic()
    response = staff.get(reverse("health"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == ALL_CHECKS
    for name, check in body["checks"].items():
        assert check["ok"] is True, name
        assert 0 <= check["latency_ms"] <= 1000, name
    assert "failing" not in body
    # the worker check stops waiting at the first reply, well before its 0.8 s timeout
    assert elapsed < 1.0


def test_closed_broker_port_is_503_naming_the_broker_quickly(staff):
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = staff.get(reverse("health"))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert "broker" in body["failing"]
    assert "worker" in body["failing"]  # no broker, so no worker can answer
    assert "database" not in body["failing"] and "cache" not in body["failing"]
    assert "Connection refused" in body["checks"]["broker"]["error"]
    assert elapsed < 1.5


def test_a_broker_that_never_answers_is_cut_off_at_one_second(staff, silent_port):
    """A port that accepts connections but never replies: the checks time out, not the request."""
    with use_broker(f"redis://127.0.0.1:{silent_port}/0"):
        started = time.monotonic()
        response = staff.get(reverse("health"))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert {"broker", "worker"} <= set(body["failing"])
    assert "timed out" in body["checks"]["broker"]["error"]
    assert body["checks"]["broker"]["latency_ms"] <= 1000
    assert elapsed < 1.5


@pytest.mark.parametrize(
    "client",
    [
        lambda make_user: client_for(None),
        lambda make_user: client_for(make_user()),  # logged in, not staff
        lambda make_user: _with_header("Bearer garbage"),  # a probe's stray header: no 401
    ],
    ids=["anonymous", "user", "bad-token"],
)
def test_only_staff_see_the_details_of_a_failure(make_user, client):
    """Exception texts name hosts and ports: others learn only which checks fail."""
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = client(make_user).get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert {"broker", "worker"} <= set(body["failing"])
    assert set(body["checks"]) == ALL_CHECKS
    for name, check in body["checks"].items():
        assert check == {"ok": name not in body["failing"]}, name
    assert "127.0.0.1" not in response.content.decode()


def _with_header(value: str):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


@pytest.mark.parametrize("dead", ["closed", "silent"])
def test_task_stats_answer_within_a_second_without_broker_or_worker(make_user, silent_port, dead):
    port = free_port() if dead == "closed" else silent_port
    staff = client_for(make_user(is_staff=True))
    with use_broker(f"redis://127.0.0.1:{port}/0"):
        started = time.monotonic()
        response = staff.get(reverse("task-stats"))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["broker"]["length"] is None and body["broker"]["error"]
    assert body["workers"] == {"answering": [], "error": body["workers"]["error"]}
    assert body["workers"]["error"]
    assert elapsed < 1.0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_dead_outbox_events_make_it_degraded_not_failing(celery_worker_process, anon, make_user):
    from django.utils import timezone

    from outbox.models import OutboxEvent

    OutboxEvent.objects.create(
        task="notification_create_for_messages",
        payload={"message_id": 0},
        attempts=10,
        dead_at=timezone.now(),
    )
    response = anon.get(reverse("health"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "degraded"
    assert body["degraded"] == ["outbox"]
    staff = client_for(make_user(is_staff=True))
    details = staff.get(reverse("health")).json()["checks"]["outbox"]
    assert "1 outbox events are dead" in details["error"]
    stats = staff.get(reverse("task-stats")).json()
    assert stats["outbox"] == {"pending": 1, "dead": 1}
    OutboxEvent.objects.all().delete()  # nothing left for the worker-quiet check
