"""Shared fixtures: API clients with JWTs, users, a real Celery worker process."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from testkit import (
    WorkerProcess,
    clear_cache,
    client_for,
    purge_broker,
    redis_cache_settings,
    wait_until,
)

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Before the test database is set up: VAR_DIR, where the test SQLite file and the worker
    logs are written, exists (the settings create no folder)."""
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _publisher_keeps_nothing_between_tests():
    """Events a test's dead broker left in this process's publisher are not the next test's."""
    yield
    from outbox.services import outbox_forget_unsent

    outbox_forget_unsent()


@pytest.fixture
def shared_cache(settings):
    """A Redis cache, shared with the worker processes the test starts (as in production)."""
    settings.CACHES = redis_cache_settings()
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **fields) -> User:
        username = username or f"user{next(_counter)}"
        user = User(username=username, email=f"{username}@example.com", **fields)
        user.set_password("correct-horse-battery-staple")
        user.save()
        return user

    return make


@pytest.fixture
def api_client_for():
    return client_for


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture(autouse=True)
def _worker_quiet_before_flush(request):
    """After a test with a worker, wait until it has processed every event before the flush.

    Set up after the database fixture, so this runs before the flush that ends the test.
    """
    if "celery_worker_process" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from outbox.models import OutboxEvent
    from outbox.services import outbox_flush

    outbox_flush()
    # A test that leaves events pending on purpose gets 15 s; the flush then waits its turn.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not OutboxEvent.objects.filter(processed_at__isnull=True).exists())


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """One real worker process (prefork, concurrency 2) on the real Redis broker, per module.

    Tests that use it need `@pytest.mark.django_db(transaction=True)`: the worker has its own
    database connections and cannot see rows of an open test transaction. Per module, not per
    session: a worker still busy with another module's tasks could collide with the database
    flush between transactional tests (PostgreSQL detects the deadlock and fails the flush).
    """
    purge_broker(settings.CELERY_BROKER_URL)
    worker = WorkerProcess().wait_ready()
    yield worker
    worker.stop()
    purge_broker(settings.CELERY_BROKER_URL)  # leave no task of this session behind
