"""GET /api/health/: database, cache, broker and worker, each bounded; 503 names what fails."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager

import pytest
from django.urls import reverse

from celery_app import app
from tests.conftest import client_for
from tests.support import free_port

pytestmark = pytest.mark.django_db

ALL_CHECKS = {"database", "cache", "broker", "worker"}


@contextmanager
def broker_at(url: str):
    """Point this process's Celery app at another broker, and back afterwards.

    Sets `broker_read_url`/`broker_write_url` because `conf.broker_url` is read from the
    CELERY_BROKER_URL environment variable first (celery.app.utils.Settings.broker_url). The
    app's cached pools are set aside, not closed: kombu keeps them in a global registry
    keyed by URL, and a closed one would be handed out again afterwards.
    """
    saved = (app._pool, app.amqp._producer_pool)
    app._pool = app.amqp._producer_pool = None
    app.conf.broker_read_url = app.conf.broker_write_url = url
    try:
        assert app.connection_for_write().port == int(url.rsplit(":", 1)[1].split("/")[0])
        yield
    finally:
        app.conf.broker_read_url = app.conf.broker_write_url = None
        app._pool, app.amqp._producer_pool = saved


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield silent.getsockname()[1]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthy_with_a_worker_up(celery_worker_process, anon):
    started = time.monotonic()
    response = anon.get(reverse("health"))
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


def test_closed_broker_port_is_503_naming_the_broker_quickly(anon):
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = anon.get(reverse("health"))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert "broker" in body["failing"]
    assert "worker" in body["failing"]  # no broker, so no worker can answer
    assert "database" not in body["failing"] and "cache" not in body["failing"]
    assert "Connection refused" in body["checks"]["broker"]["error"]
    assert elapsed < 1.5


def test_a_broker_that_never_answers_is_cut_off_at_one_second(anon, silent_port):
    """A port that accepts connections but never replies: the checks time out, not the request."""
    with broker_at(f"redis://127.0.0.1:{silent_port}/0"):
        started = time.monotonic()
        response = anon.get(reverse("health"))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert {"broker", "worker"} <= set(body["failing"])
    assert "timed out" in body["checks"]["broker"]["error"]
    assert body["checks"]["broker"]["latency_ms"] <= 1000
    assert elapsed < 1.5


@pytest.mark.parametrize("dead", ["closed", "silent"])
def test_task_stats_answer_within_a_second_without_broker_or_worker(make_user, silent_port, dead):
    port = free_port() if dead == "closed" else silent_port
    staff = client_for(make_user(is_staff=True))
    with broker_at(f"redis://127.0.0.1:{port}/0"):
        started = time.monotonic()
        response = staff.get(reverse("task-stats"))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["broker"]["length"] is None and body["broker"]["error"]
    assert body["workers"] == {"answering": [], "error": body["workers"]["error"]}
    assert body["workers"]["error"]
    assert elapsed < 1.0
