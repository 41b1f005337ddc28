"""Fixtures of the live delivery tests: a real ASGI server process, stream clients, events."""

from __future__ import annotations

import pytest
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from live.services import Event, live_publish
from testkit import EventStreamClient, ServerProcess, client_for, wait_until

# Quick heartbeats and sweeps, so that the tests see them without waiting 25 s.
SERVER_ENV = {"LIVE_HEARTBEAT_SECONDS": "1", "LIVE_SWEEP_SECONDS": "2"}


def bearer(user):
    token = str(AccessToken.for_user(user))
    return lambda: ("", {"Authorization": f"Bearer {token}"})


def with_tickets(user):
    """Like a browser: a fresh ticket (from the REST endpoint) for every connection."""
    api = client_for(user)

    def auth():
        ticket = api.post("/api/events/ticket/").json()["ticket"]
        return f"?ticket={ticket}", {}

    return auth


def publish(user, count: int, kind: str = "test.ping") -> list[int]:
    """Commit `count` events for `user`, one transaction each; return their seqs."""
    seqs = []
    for i in range(count):
        with transaction.atomic():
            seqs += [row.seq for row in live_publish([Event(user.pk, kind, {"n": i})])]
    return seqs


def seqs_of(client: EventStreamClient, kind: str = "test.ping") -> list[int]:
    return [e[0] for e in client.of_type(kind)]


def connected(client: EventStreamClient, times: int = 1) -> EventStreamClient:
    wait_until(lambda: len(client.of_type("ready")) >= times, timeout=20, what="ready event")
    return client


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """One uvicorn process serving the project (and its streams) for the module."""
    process = ServerProcess(env=SERVER_ENV).start()
    yield process
    process.stop()


@pytest.fixture
def streams():
    """Stream clients made by the test, all stopped at its end."""
    made: list[EventStreamClient] = []

    def make(base: str, auth, **kwargs) -> EventStreamClient:
        client = EventStreamClient(base, auth, **kwargs).start()
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop()
