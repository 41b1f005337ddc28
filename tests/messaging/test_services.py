"""The write services of messaging/services.py, called as plain functions (no worker)."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.services import user_delete
from chats.models import Conversation
from messaging import selectors, services
from messaging.models import Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def group(*users) -> Conversation:
    conversation = Conversation.objects.create(created_by=users[0])
    conversation.participants.add(*users)
    return conversation


def send(sender, receiver, content="hi", **kwargs) -> Message:
    return services.message_send(sender=sender, receiver=receiver, content=content, **kwargs)


def post(sender, conversation, content="hi all", **kwargs) -> Message:
    return services.conversation_message_post(
        sender=sender, conversation=conversation, content=content, **kwargs
    )


def notification_rows() -> list[tuple]:
    return sorted(Notification.objects.values_list("pk", "user_id", "message_id", "read"))


def pending_edits() -> list[dict]:
    return [
        e.payload
        for e in OutboxEvent.objects.filter(task="message_history_archive").order_by("created_at")
    ]


def test_user_delete_records_one_purge_event(alice):
    alice_id = alice.pk
    user_delete(user=alice)
    assert not User.objects.filter(pk=alice_id).exists()
    event = OutboxEvent.objects.get(task="user_data_purge")
    assert event.payload == {"user_id": alice_id}
    assert alice.data_purge_task_id == event.task_id


# --- Notifications --------------------------------------------------------------------------


def test_direct_message_notifies_the_receiver_only(alice, bob):
    message = send(alice, bob)
    assert services.notification_create_for_messages(message_ids=[message.pk]) == 1
    assert list(Notification.objects.values_list("user_id", "message_id", "read")) == [
        (bob.pk, message.pk, False)
    ]


def test_group_message_notifies_every_other_participant(alice, bob, carol, make_user):
    dave = make_user("dave")
    message = post(alice, group(alice, bob, carol, dave))
    services.notification_create_for_messages(message_ids=[message.pk])
    assert set(Notification.objects.values_list("user_id", flat=True)) == {
        bob.pk,
        carol.pk,
        dave.pk,
    }


def test_many_messages_in_one_call(alice, bob, carol):
    conversation = group(alice, bob, carol)
    messages = [
        send(alice, bob),
        post(bob, conversation),
        send(carol, alice),
        post(alice, conversation),
    ]
    services.notification_create_for_messages(message_ids=[m.pk for m in messages])
    assert sorted(Notification.objects.values_list("message_id", "user_id")) == sorted(
        [
            (messages[0].pk, bob.pk),
            (messages[1].pk, alice.pk),
            (messages[1].pk, carol.pk),
            (messages[2].pk, alice.pk),
            (messages[3].pk, bob.pk),
            (messages[3].pk, carol.pk),
        ]
    )


def test_notifications_are_idempotent(alice, bob, carol):
    conversation = group(alice, bob, carol)
    ids = [send(alice, bob).pk, post(carol, conversation).pk]
    services.notification_create_for_messages(message_ids=ids)
    once = notification_rows()
    services.notification_create_for_messages(message_ids=ids)
    services.notification_create_for_messages(message_ids=[*ids, *ids])
    assert notification_rows() == once
    assert len(once) == 3


def test_a_repeat_does_not_reset_a_read_notification(alice, bob):
    message = send(alice, bob)
    services.notification_create_for_messages(message_ids=[message.pk])
    services.message_mark_read(message=message, user=bob)
    services.notification_create_for_messages(message_ids=[message.pk])
    assert Notification.objects.get().read is True


def test_no_notifications_for_messages_of_deleted_accounts(alice, bob, carol, make_user):
    gone = make_user("gone")
    conversation = group(gone, alice, bob)
    from_gone = [send(gone, alice), post(gone, conversation)]
    to_gone = send(carol, gone)
    gone.delete()
    services.notification_create_for_messages(message_ids=[*(m.pk for m in from_gone), to_gone.pk])
    assert not Notification.objects.exists()


def test_missing_messages_are_skipped(alice, bob):
    message = send(alice, bob)
    assert services.notification_create_for_messages(message_ids=[message.pk, 10**9]) == 1
    assert services.notification_create_for_messages(message_ids=[]) == 0


# --- Edit history ---------------------------------------------------------------------------


def test_edit_captures_numbered_old_versions(alice, bob):
    message = send(alice, bob, "v1")
    for content in ("v2", "v3", "v4"):
        services.message_edit(message=message, editor=alice, content=content)
    edits = pending_edits()
    assert [(e["revision"], e["old_content"]) for e in edits] == [(1, "v1"), (2, "v2"), (3, "v3")]
    assert all(e["message_id"] == message.pk and e["edited_by_id"] == alice.pk for e in edits)
    message.refresh_from_db()
    assert (message.content, message.edited, message.edit_count) == ("v4", True, 3)


def test_edit_to_the_same_content_records_nothing(alice, bob):
    message = send(alice, bob, "same")
    services.message_edit(message=message, editor=alice, content="same")
    assert pending_edits() == []
    message.refresh_from_db()
    assert message.edited is False


def test_history_archive_is_idempotent(alice, bob):
    message = send(alice, bob, "v1")
    services.message_edit(message=message, editor=alice, content="v2")
    services.message_edit(message=message, editor=alice, content="v3")
    edits = pending_edits()
    services.message_history_archive(edits=edits)
    once = list(MessageHistory.objects.values_list("pk", "revision", "old_content"))
    services.message_history_archive(edits=edits)
    services.message_history_archive(edits=edits[:1])
    assert list(MessageHistory.objects.values_list("pk", "revision", "old_content")) == once
    assert [row[1:] for row in once] == [(1, "v1"), (2, "v2")]


@pytest.mark.parametrize("order", [[2, 0, 1], [2, 1, 0], [1, 2, 0]])
def test_history_is_ordered_by_revision_whatever_the_archive_order(alice, bob, order):
    message = send(alice, bob, "v1")
    for content in ("v2", "v3", "v4"):
        services.message_edit(message=message, editor=alice, content=content)
    edits = pending_edits()
    services.message_history_archive(edits=[edits[i] for i in order])
    expected = [(1, "v1"), (2, "v2"), (3, "v3")]
    assert [
        (h.revision, h.old_content) for h in selectors.message_history(message=message)
    ] == expected
    assert [(h.revision, h.old_content) for h in MessageHistory.objects.all()] == expected


def test_history_archived_one_edit_at_a_time_out_of_order(alice, bob):
    message = send(alice, bob, "v1")
    services.message_edit(message=message, editor=alice, content="v2")
    services.message_edit(message=message, editor=alice, content="v3")
    first, second = pending_edits()
    services.message_history_archive(edits=[second])  # the later task ran first
    services.message_history_archive(edits=[first])
    assert [h.old_content for h in selectors.message_history(message=message)] == ["v1", "v2"]


def test_history_of_a_deleted_message_is_skipped(alice, bob):
    message = send(alice, bob, "v1")
    services.message_edit(message=message, editor=alice, content="v2")
    edits = pending_edits()
    services.message_delete(message=message)
    assert services.message_history_archive(edits=edits) == 0
    assert not MessageHistory.objects.exists()


# --- Read state -----------------------------------------------------------------------------


def test_mark_read_is_idempotent_and_marks_the_notification(alice, bob):
    message = send(alice, bob)
    services.notification_create_for_messages(message_ids=[message.pk])
    services.message_mark_read(message=message, user=bob)
    services.message_mark_read(message=message, user=bob)
    assert MessageRead.objects.filter(message=message, user=bob).count() == 1
    assert Notification.objects.get().read is True
    assert not Message.unread.unread_for_user(bob).exists()


def test_notification_mark_read_marks_the_message(alice, bob):
    message = send(alice, bob)
    services.notification_create_for_messages(message_ids=[message.pk])
    services.notification_mark_read(notification=Notification.objects.get())
    assert MessageRead.objects.filter(message=message, user=bob).exists()


# --- Account purge --------------------------------------------------------------------------


@pytest.fixture
def world(alice, bob, carol) -> dict:
    """Alice's data mixed with other people's; alice is the one who leaves."""
    conversation = group(alice, bob, carol)
    bob_carol = group(bob, carol)
    w = {"conversation": conversation}
    w["a_to_b"] = send(alice, bob, "a->b")
    w["b_to_a"] = send(bob, alice, "b->a", parent_message=w["a_to_b"])
    w["c_to_b"] = send(carol, bob, "c->b")
    w["b_to_c"] = send(bob, carol, "b->c", parent_message=w["c_to_b"])
    w["a_group"] = post(alice, conversation, "alice in group")
    w["a_group_2"] = post(alice, conversation, "alice again")
    w["b_group"] = post(bob, conversation, "bob in group")
    w["c_group"] = post(carol, conversation, "carol in group")
    w["b_reply"] = post(bob, conversation, "bob replies to alice", parent_message=w["a_group"])
    w["c_reply"] = post(carol, conversation, "carol too", parent_message=w["a_group"])
    w["bc"] = post(bob, bob_carol, "between bob and carol")
    services.message_edit(message=w["a_to_b"], editor=alice, content="a->b edited")
    services.message_edit(message=w["b_group"], editor=bob, content="bob edited")
    services.message_history_archive(edits=pending_edits())
    everything = [m.pk for k, m in w.items() if isinstance(m, Message)]
    services.notification_create_for_messages(message_ids=everything)
    for message, user in (
        (w["b_to_a"], alice),
        (w["b_group"], alice),
        (w["c_group"], alice),
        (w["a_to_b"], bob),
        (w["a_group"], carol),
        (w["b_group"], carol),
        (w["c_to_b"], bob),
    ):
        services.message_mark_read(message=message, user=user)
    return w


def snapshot(*, excluding_user_id: int | None = None) -> dict:
    """Every row that belongs to somebody other than the given user."""
    return {
        "messages": set(Message.objects.values_list("pk", flat=True)),
        "notifications": set(Notification.objects.values_list("user_id", "message_id")),
        "reads": set(MessageRead.objects.values_list("user_id", "message_id")),
        "history": set(MessageHistory.objects.values_list("message_id", "revision")),
        "members": set(
            Conversation.participants.through.objects.values_list("conversation_id", "user_id")
        ),
    }


def test_purge_removes_exactly_what_the_account_leaves(alice, bob, carol, world):
    w = world
    alice_id = alice.pk
    gone = {w[k].pk for k in ("a_to_b", "b_to_a", "a_group", "a_group_2")}
    before = snapshot()
    alice.delete()

    result = services.user_data_purge(user_id=alice_id, batch_size=2)

    after = snapshot()
    assert after["messages"] == before["messages"] - gone
    assert after["notifications"] == {
        (u, m) for u, m in before["notifications"] if u != alice_id and m not in gone
    }
    assert after["reads"] == {(u, m) for u, m in before["reads"] if u != alice_id and m not in gone}
    assert after["history"] == {(m, r) for m, r in before["history"] if m not in gone}
    assert (w["b_group"].pk, 1) in after["history"]  # bob's own edit history stays
    assert after["members"] == {(c, u) for c, u in before["members"] if u != alice_id}
    # Replies by others under her messages stay and lose only their parent link.
    for key in ("b_reply", "c_reply"):
        reply = Message.objects.get(pk=w[key].pk)
        assert reply.parent_message_id is None
        assert reply.content == w[key].content
        assert reply.sender_id == w[key].sender_id
    assert Message.objects.get(pk=w["b_to_c"].pk).parent_message_id == w["c_to_b"].pk
    assert not Message.objects.filter(sender_id=alice_id).exists()
    assert not Message.objects.filter(receiver_id=alice_id).exists()
    assert result["done"] == result["total"] > 0
    assert set(User.objects.values_list("username", flat=True)) == {"bob", "carol"}


def test_purge_is_idempotent(alice, world):
    alice_id = alice.pk
    alice.delete()
    services.user_data_purge(user_id=alice_id, batch_size=2)
    once = snapshot()
    again = services.user_data_purge(user_id=alice_id, batch_size=2)
    assert snapshot() == once
    assert again == {"done": 0, "total": 0}


def test_purge_resumes_after_a_partial_run(alice, world):
    """A crash between batches leaves some rows; the next run removes the rest."""
    alice_id = alice.pk
    alice.delete()
    first_batch = list(
        Message.objects.filter(sender_id=alice_id).order_by("pk").values_list("pk", flat=True)[:1]
    )
    Message.objects.filter(pk__in=first_batch).delete()
    services.user_data_purge(user_id=alice_id, batch_size=2)
    assert not Message.objects.filter(sender_id=alice_id).exists()
    assert not Notification.objects.filter(user_id=alice_id).exists()


def test_purge_reports_progress_in_batches(alice, bob, world):
    alice_id = alice.pk
    for i in range(7):  # more rows than a few batches
        send(alice, bob, f"extra {i}")
    expected_total = (
        Message.objects.filter(sender_id=alice_id).count()
        + Message.objects.filter(receiver_id=alice_id).count()
        + Notification.objects.filter(user_id=alice_id).count()
        + MessageRead.objects.filter(user_id=alice_id).count()
    )
    alice.delete()
    calls: list[tuple[int, int]] = []

    result = services.user_data_purge(
        user_id=alice_id, batch_size=2, progress=lambda done, total: calls.append((done, total))
    )

    totals = {total for _, total in calls}
    dones = [done for done, _ in calls]
    assert totals == {expected_total}
    assert dones[0] == 0
    assert dones == sorted(dones)
    assert all(b > a for a, b in itertools.pairwise(dones))
    assert all(b - a <= 2 for a, b in itertools.pairwise(dones))  # bounded batches
    assert dones[-1] == expected_total
    assert len(calls) >= 1 + expected_total // 2
    assert result == {"done": expected_total, "total": expected_total}


def test_purge_uses_the_configured_batch_size(alice, bob, settings):
    settings.PURGE_BATCH_SIZE = 3
    for i in range(7):
        send(alice, bob, f"m{i}")
    alice_id = alice.pk
    alice.delete()
    calls = []
    services.user_data_purge(user_id=alice_id, progress=lambda d, t: calls.append(d))
    assert calls == [0, 3, 6, 7]


def test_purge_never_touches_a_live_account(alice, bob, world):
    before = snapshot()
    assert services.user_data_purge(user_id=bob.pk) == {"done": 0, "total": 0}
    assert snapshot() == before


def test_purge_of_an_account_without_data(make_user):
    user = make_user()
    user_id = user.pk
    user.delete()
    calls = []
    result = services.user_data_purge(user_id=user_id, progress=lambda d, t: calls.append((d, t)))
    assert result == {"done": 0, "total": 0}
    assert calls == [(0, 0)]


def test_purge_leaves_other_deleted_accounts_data_for_their_own_purge(alice, bob, carol, world):
    bob_id, alice_id = bob.pk, alice.pk
    bob.delete()
    alice.delete()
    services.user_data_purge(user_id=alice_id, batch_size=2)
    assert Message.objects.filter(sender_id=bob_id).exists()
    services.user_data_purge(user_id=bob_id, batch_size=2)
    assert set(Message.objects.values_list("sender_id", flat=True)) == {carol.pk}
    assert set(Message.objects.values_list("receiver_id", flat=True)) == {None}
    assert timezone.now() - Message.objects.first().timestamp < timedelta(minutes=5)


# --- No message content outlives its processing or its deletion ------------------------------


def _edit_events() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(task=services.ARCHIVE_TASK).order_by("created_at"))


def test_an_archived_edit_leaves_no_content_in_its_event(alice, bob):
    from tasks.history import message_history_archive

    message = services.message_send(sender=alice, receiver=bob, content="secret v1")
    services.message_edit(message=message, editor=alice, content="v2")
    (event,) = _edit_events()
    assert event.payload["old_content"] == "secret v1"  # needed until it is archived
    message_history_archive(event_id=event.task_id)  # the task's body, run here
    event.refresh_from_db()
    assert event.processed_at is not None
    assert "old_content" not in event.payload
    assert "secret v1" not in str(event.payload)
    assert MessageHistory.objects.get(message=message).old_content == "secret v1"


def test_purge_clears_the_pending_edit_events_of_the_accounts_messages(alice, bob, carol):
    sent = services.message_send(sender=alice, receiver=bob, content="alice secret")
    received = services.message_send(sender=bob, receiver=alice, content="bob to alice")
    others = services.message_send(sender=bob, receiver=carol, content="bob to carol")
    for message, editor in ((sent, alice), (received, bob), (others, bob)):
        services.message_edit(message=message, editor=editor, content="edited")
    alice_id = alice.pk
    user_delete(user=alice)
    services.user_data_purge(user_id=alice_id)
    by_message = {e.payload["message_id"]: e for e in _edit_events()}
    for gone in (sent, received):  # deleted with alice: nothing left to archive
        assert "old_content" not in by_message[gone.pk].payload
        assert by_message[gone.pk].processed_at is not None
    # carol's message is not alice's: its edit still waits for the archive, content and all.
    assert by_message[others.pk].payload["old_content"] == "bob to carol"
    assert by_message[others.pk].processed_at is None


def test_deleting_a_message_clears_its_pending_edit_events(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="regretted")
    services.message_edit(message=message, editor=alice, content="still regretted")
    services.message_delete(message=message)
    (event,) = _edit_events()
    assert "old_content" not in event.payload
    assert event.processed_at is not None
