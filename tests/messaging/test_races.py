"""Requests that lose a race with a concurrent delete or purge get a 4xx, never a 500."""

import contextlib
import re
import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.urls import reverse

from accounts.models import User
from accounts.services import user_delete
from messaging import services
from messaging.models import Message
from testkit import client_for, wait_until

pytestmark = pytest.mark.django_db


def test_sending_to_an_account_deleted_meanwhile_is_refused(alice, bob):
    stale_bob = User.objects.get(pk=bob.pk)
    bob.delete()  # after the view validated the receiver, before the write
    with pytest.raises(ValidationError):
        services.message_send(sender=alice, receiver=stale_bob, content="too late")
    assert not Message.objects.exists()


@pytest.mark.parametrize("conversation", [False, True])
def test_sending_locks_the_accounts_in_one_query(alice, bob, conversation):
    """The sender and a direct receiver are locked against deletion until commit (on PostgreSQL
    a row lock that the purge's delete waits for; SQLite's write lock serializes both)."""
    from django.test.utils import CaptureQueriesContext

    from chats.models import Conversation

    chat = Conversation.objects.create(created_by=alice)
    chat.participants.add(alice, bob)
    with CaptureQueriesContext(connection) as queries:
        if conversation:
            services.conversation_message_post(sender=alice, conversation=chat, content="x")
        else:
            services.message_send(sender=alice, receiver=bob, content="x")
    locks = [q["sql"] for q in queries if 'FROM "accounts_user"' in q["sql"]]
    assert len(locks) == 1
    assert (" FOR KEY SHARE" in locks[0]) is (connection.vendor == "postgresql")
    locked = {int(pk) for pk in re.search(r"IN \(([^)]*)\)", locks[0]).group(1).split(",")}
    assert locked == ({alice.pk} if conversation else {alice.pk, bob.pk})


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite serializes every writer"
)


@contextlib.contextmanager
def _send_held_open(sender: User, receiver: User) -> Iterator[None]:
    """A send from `sender` to `receiver`, in another thread, whose transaction stays open (its
    locks held) until the block ends; then it commits."""
    holding, release = threading.Event(), threading.Event()

    def open_send() -> None:
        try:
            with transaction.atomic():
                services.message_send(sender=sender, receiver=receiver, content="open")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=open_send)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sends_share_the_accounts_lock_and_a_deletion_waits_for_it(alice, bob):
    """While one send to bob is open, another send from the same sender to him goes through at
    once (FOR NO KEY UPDATE queued them, commit after commit), and deleting either account
    waits until the open send commits."""
    with _send_held_open(alice, bob):
        with transaction.atomic():
            _lock_timeout("500ms")
            services.message_send(sender=alice, receiver=bob, content="beside it")
        for account in (alice, bob):
            with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
                _lock_timeout("200ms")
                with connection.cursor() as cursor:
                    cursor.execute("DELETE FROM accounts_user WHERE id = %s", [account.pk])
    contents = Message.objects.filter(sender=alice).values_list("content", flat=True)
    assert sorted(contents) == ["beside it", "open"]
    assert User.objects.filter(pk__in=[alice.pk, bob.pk]).count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_waiting_deletion_is_not_passed_by_new_sends(alice, bob):
    """FOR KEY SHARE alone lets every new send pass a DELETE that waits for the open ones: the
    deletion of a busy account could wait for ever. New sends queue behind it, and once it has
    committed they are refused."""
    deleted = threading.Event()

    def delete_bob() -> None:
        try:
            user_delete(user=User.objects.get(pk=bob.pk))
            deleted.set()
        finally:
            connection.close()

    deletion = threading.Thread(target=delete_bob)
    try:
        with _send_held_open(alice, bob):
            deletion.start()
            wait_until(_a_lock_is_awaited, timeout=10, what="the deletion waiting for the send")
            with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
                _lock_timeout("300ms")
                services.message_send(sender=alice, receiver=bob, content="passing")
            assert not deleted.is_set()
    finally:
        if deletion.is_alive():
            deletion.join(10)
    assert deleted.is_set()
    with pytest.raises(ValidationError):
        services.message_send(sender=alice, receiver=bob, content="too late")
    assert list(Message.objects.values_list("content", flat=True)) == ["open"]


def _a_lock_is_awaited() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def _lock_timeout(value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{value}'")


def test_a_service_refusal_is_a_json_400(alice, bob, monkeypatch):
    def gone(**kwargs):
        User.objects.filter(pk=bob.pk).delete()
        return real(**kwargs)

    real = services.message_send
    monkeypatch.setattr(services, "message_send", gone)
    response = client_for(alice).post(
        reverse("message-list"), {"receiver": bob.pk, "content": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "receiver" in response.json()
    assert not Message.objects.exists()


def test_edit_of_a_message_deleted_meanwhile_is_404(alice, bob, monkeypatch):
    message = services.message_send(sender=alice, receiver=bob, content="v1")

    def deleted_first(**kwargs):
        Message.objects.filter(pk=message.pk).delete()
        return real(**kwargs)

    real = services.message_edit
    monkeypatch.setattr(services, "message_edit", deleted_first)
    response = client_for(alice).patch(
        reverse("message-detail", args=[message.pk]), {"content": "v2"}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_write_that_loses_a_race_at_commit_is_a_409(alice, bob, monkeypatch):
    message = services.message_send(sender=alice, receiver=bob, content="hi")

    def violated(**kwargs):
        raise IntegrityError("insert or update violates foreign key constraint")

    monkeypatch.setattr(services, "message_mark_read", violated)
    response = client_for(bob).post(reverse("message-read", args=[message.pk]))
    assert response.status_code == 409
    assert "detail" in response.json()
