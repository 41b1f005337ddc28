"""live/services.py as plain functions: seq allocation, publish after commit, tickets, pruning."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from live import selectors, services
from live.models import LiveCursor, LiveEvent, LiveTicket
from live.services import Event, live_publish


@pytest.mark.django_db
def test_seqs_increase_by_one_per_user_across_calls(alice, bob):
    live_publish([Event(alice.pk, "a", {}), Event(bob.pk, "b", {}), Event(alice.pk, "c", {})])
    live_publish([Event(bob.pk, "d", {})])
    assert list(LiveEvent.objects.filter(user=alice).values_list("seq", "type")) == [
        (1, "a"),
        (2, "c"),
    ]
    assert list(LiveEvent.objects.filter(user=bob).values_list("seq", "type")) == [
        (1, "b"),
        (2, "d"),
    ]
    assert selectors.live_last_seqs(user_ids=[alice.pk, bob.pk]) == {alice.pk: 2, bob.pk: 2}


@pytest.mark.django_db
def test_one_publish_per_transaction_after_commit_and_none_on_rollback(
    alice, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        live_publish([Event(alice.pk, "a", {"x": 1})])
    assert len(callbacks) == 1
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        live_publish([Event(bob.pk, "b", {})])
        raise RuntimeError
    assert callbacks == [] and not LiveEvent.objects.filter(user=bob).exists()
    assert LiveCursor.objects.filter(user=bob).first() is None


@pytest.mark.django_db
def test_the_published_message_carries_every_event_of_the_transaction(
    alice, bob, django_capture_on_commit_callbacks
):
    subscriber = redis.Redis.from_url(settings.LIVE_REDIS_URL).pubsub()
    subscriber.subscribe(settings.LIVE_CHANNEL)
    subscriber.get_message(timeout=1)  # the subscribe confirmation
    with django_capture_on_commit_callbacks(execute=True):
        live_publish([Event(alice.pk, "a", {"x": 1}), Event(bob.pk, "b", {"y": 2})])
    message = subscriber.get_message(timeout=2)
    subscriber.close()
    assert json.loads(message["data"]) == {
        "e": [[alice.pk, 1, "a", {"x": 1}], [bob.pk, 1, "b", {"y": 2}]]
    }


@pytest.mark.django_db
@override_settings(LIVE_PUBLISH_MAX_BYTES=100)
def test_a_large_publish_carries_ids_only(alice):
    rows = live_publish([Event(alice.pk, "big", {"blob": "x" * 200})])
    assert json.loads(services._payload(rows)) == {"e": [[alice.pk, 1, "big", None]]}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_share_or_skip_a_seq(make_user):
    users = [make_user() for _ in range(5)]

    def write(offset: int) -> None:
        try:
            for i in range(20):
                ordered = users[offset:] + users[:offset]  # each thread in another order
                live_publish([Event(u.pk, "t", {"i": i}) for u in ordered])
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for user in users:
        seqs = list(LiveEvent.objects.filter(user=user).values_list("seq", flat=True))
        assert seqs == list(range(1, 81))


@pytest.mark.django_db
def test_a_ticket_is_single_use_and_expires(alice):
    until = timezone.now() + timedelta(minutes=5)
    ticket, _ = services.live_ticket_issue(user_id=alice.pk, stream_until=until)
    assert not LiveTicket.objects.filter(digest=ticket).exists()  # only its hash is stored
    assert services.live_ticket_redeem(ticket=ticket) == (alice.pk, until)
    assert services.live_ticket_redeem(ticket=ticket) is None
    old, _ = services.live_ticket_issue(user_id=alice.pk, stream_until=until)
    LiveTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.live_ticket_redeem(ticket=old) is None


@pytest.mark.django_db
def test_prune_removes_events_past_the_window_and_expired_tickets(alice):
    live_publish([Event(alice.pk, "old", {}), Event(alice.pk, "new", {})])
    LiveEvent.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(hours=25))
    services.live_ticket_issue(user_id=alice.pk, stream_until=timezone.now())
    LiveTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.live_prune() == 1
    assert list(LiveEvent.objects.values_list("type", flat=True)) == ["new"]
    assert not LiveTicket.objects.exists()
    assert selectors.live_events_after(user_id=alice.pk, after=0, limit=10) == [(2, "new", {})]


@pytest.mark.django_db
def test_deleting_an_account_writes_its_closing_event(alice):
    from accounts.services import user_delete

    alice_id = alice.pk
    user_delete(user=alice)
    assert list(LiveEvent.objects.values_list("user_id", "type")) == [(alice_id, "account.deleted")]
    services.live_forget_user(user_id=alice_id)
    assert not LiveEvent.objects.exists() and not LiveCursor.objects.exists()
