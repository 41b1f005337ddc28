"""The notification task reads before it writes (outbox_drain's `prepare`): its write
transaction, which on SQLite holds the database's one write lock, only checks and inserts, and
whatever changes between the reads and the write is respected."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from live.models import LiveEvent
from messaging import services
from messaging.models import Notification
from outbox import services as outbox
from outbox.models import OutboxEvent
from tasks.notifications import NAME, _handle, _prepare


@pytest.fixture(autouse=True)
def _read_before_write(settings, monkeypatch):
    """The SQLite default; the PostgreSQL suite runs the same path. These tests drain by hand:
    nothing is sent to the broker (a worker started by a later test would take it)."""
    settings.OUTBOX_READ_BEFORE_WRITE = True
    settings.OUTBOX_PUBLISH_IN_BACKGROUND = False
    monkeypatch.setattr(outbox, "outbox_publish", lambda event: True)


def _drain() -> int:
    return outbox.outbox_drain(task=NAME, first_id=None, handler=_handle, prepare=_prepare)


def _between_reads_and_write(monkeypatch, action) -> dict:
    """Run `action` after the task's reads, before its write; report what the write saw."""
    seen = {}
    real = services.notifications_prepare

    def prepare(**kwargs):
        seen["reads_in_a_transaction"] = connection.in_atomic_block
        write = real(**kwargs)
        action()

        def counted_write(claimed_ids):
            seen["write_in_a_transaction"] = connection.in_atomic_block
            with CaptureQueriesContext(connection) as queries:
                result = write(claimed_ids)
            seen["write_queries"] = len(queries)
            return result

        return counted_write

    monkeypatch.setattr(services, "notifications_prepare", prepare)
    return seen


def _types(user) -> list[str]:
    return list(
        LiveEvent.objects.filter(user_id=user.pk).order_by("seq").values_list("type", flat=True)
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("messages", [1, 3])
def test_reads_come_before_a_write_transaction_of_four_queries(monkeypatch, alice, bob, messages):
    for _ in range(messages):
        services.message_send(sender=alice, receiver=bob, content="hi")
    seen = _between_reads_and_write(monkeypatch, lambda: None)
    assert _drain() == messages
    assert seen == {
        "reads_in_a_transaction": False,
        "write_in_a_transaction": True,
        # still visible with read marks, notifications with their ids, seqs, live events
        "write_queries": 4,
    }
    assert Notification.objects.filter(user=bob).count() == messages
    assert _types(bob) == ["message.created"] * messages + ["notification.created"] * messages
    assert not OutboxEvent.objects.filter(task=NAME, processed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_events_another_drain_processed_meanwhile_are_not_processed_again(monkeypatch, alice, bob):
    services.message_send(sender=alice, receiver=bob, content="hi")
    other = lambda: outbox.outbox_drain(task=NAME, first_id=None, handler=_handle)  # noqa: E731
    seen = _between_reads_and_write(monkeypatch, other)
    assert _drain() == 0
    assert "write_queries" not in seen  # nothing left to write
    assert _types(bob) == ["message.created", "notification.created"]
    assert _types(alice) == ["message.created"]
    assert Notification.objects.filter(user=bob).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gone", ["message", "sender"])
def test_a_message_gone_meanwhile_gets_no_notification(monkeypatch, alice, bob, gone):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    kept = services.message_send(sender=bob, receiver=alice, content="still here")
    remove = message.delete if gone == "message" else alice.delete
    _between_reads_and_write(monkeypatch, remove)
    assert _drain() == 2  # both events are processed, one of them with nothing to do
    assert list(Notification.objects.values_list("message_id", flat=True)) == (
        [kept.pk] if gone == "message" else []
    )
    assert not LiveEvent.objects.filter(data__id=message.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_read_mark_made_meanwhile_shows_in_the_live_event(monkeypatch, alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    _between_reads_and_write(
        monkeypatch, lambda: services.message_mark_read(message=message, user=bob)
    )
    assert _drain() == 1
    created = LiveEvent.objects.get(user_id=bob.pk, type="message.created")
    assert created.data["read"] is True


def test_only_sqlite_reads_before_it_writes():
    """One write lock for the whole database there; row locks on PostgreSQL. (The settings
    module itself: this file's fixture sets the setting.)"""
    from messaging_app.settings import test as configured

    assert configured.OUTBOX_READ_BEFORE_WRITE is (connection.vendor == "sqlite")


@pytest.mark.django_db(transaction=True)
def test_without_reading_first_the_handler_does_it_all_in_the_transaction(
    settings, monkeypatch, alice, bob
):
    settings.OUTBOX_READ_BEFORE_WRITE = False
    services.message_send(sender=alice, receiver=bob, content="hi")

    def not_called(**kwargs):
        raise AssertionError("prepare used")

    monkeypatch.setattr(services, "notifications_prepare", not_called)
    assert _drain() == 1
    assert _types(bob) == ["message.created", "notification.created"]
