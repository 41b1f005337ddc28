"""Which change writes which event into whose live log, and in which transaction (services
called as plain functions; tests/tasks and tests/live run them through the worker)."""

import pytest
from django.db import transaction

from chats.services import conversation_create
from live.models import LiveEvent
from messaging import selectors, services
from messaging.models import Notification
from messaging.serializers import MessageSerializer
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def log(user) -> list[tuple[int, str]]:
    return list(LiveEvent.objects.filter(user=user).values_list("seq", "type"))


def drain(task: str, handler) -> None:
    """Run the worker's service on the pending outbox events of `task`, as its task would."""
    events = list(OutboxEvent.objects.filter(task=task, processed_at__isnull=True))
    handler([e.payload for e in events])
    OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).delete()


def test_a_post_writes_no_event_until_the_worker_creates_notifications(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    assert not LiveEvent.objects.exists()  # the request stays cheap
    services.notification_create_for_messages(message_ids=[message.pk])
    assert log(bob) == [(1, "message.created"), (2, "notification.created")]
    assert log(alice) == [(1, "message.created")]  # the sender's other devices
    received = LiveEvent.objects.get(user=bob, type="message.created").data
    sent = LiveEvent.objects.get(user=alice).data
    assert received == {**sent, "read": False} and sent["read"] is True
    assert (
        received == MessageSerializer(selectors.message_get_for_user(user=bob, pk=message.pk)).data
    )
    notification = LiveEvent.objects.get(type="notification.created").data
    assert notification["id"] == Notification.objects.get().pk


def test_a_group_message_reaches_every_participant(alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    LiveEvent.objects.all().delete()
    message = services.conversation_message_post(sender=bob, conversation=conversation, content="x")
    services.notification_create_for_messages(message_ids=[message.pk])
    assert sorted(LiveEvent.objects.values_list("user_id", "type")) == sorted(
        [
            (alice.pk, "message.created"),
            (alice.pk, "notification.created"),
            (bob.pk, "message.created"),
            (carol.pk, "message.created"),
            (carol.pk, "notification.created"),
        ]
    )


def test_the_body_tells_a_recipient_who_already_read_it(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    services.message_mark_read(message=message, user=bob)  # before the worker ran
    services.notification_create_for_messages(message_ids=[message.pk])
    assert LiveEvent.objects.get(user=bob, type="message.created").data["read"] is True


def test_marking_read_tells_the_readers_devices_once_in_the_same_transaction(
    alice, bob, django_capture_on_commit_callbacks
):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    shown = selectors.message_get_for_user(user=bob, pk=message.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        services.message_mark_read(message=shown, user=bob)
    assert log(bob) == [(1, "message.read")]
    assert (
        LiveEvent.objects.get(user=bob).data
        == MessageSerializer(selectors.message_get_for_user(user=bob, pk=message.pk)).data
    )
    assert callbacks  # published after commit
    services.message_mark_read(message=shown, user=bob)  # again: no change, no event
    assert log(bob) == [(1, "message.read")]
    assert log(alice) == []


def test_reading_the_notification_marks_the_message_read_too(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    services.notification_create_for_messages(message_ids=[message.pk])
    services.notification_mark_read(notification=Notification.objects.get())
    assert log(bob)[-1] == (3, "message.read")


def test_an_edit_reaches_everyone_who_sees_the_message_with_their_read_state(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    services.message_edit(message=message, editor=alice, content="hello")
    assert not LiveEvent.objects.exists()
    drain(services.ARCHIVE_TASK, lambda edits: services.message_history_archive(edits=edits))
    for user, read in ((alice, True), (bob, False)):
        event = LiveEvent.objects.get(user=user, type="message.updated")
        assert event.data["content"] == "hello" and event.data["edited"] is True
        assert event.data["read"] is read


def test_a_deletion_is_recorded_with_its_audience_and_announced_by_the_worker(alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    message = services.conversation_message_post(
        sender=alice, conversation=conversation, content="x"
    )
    LiveEvent.objects.all().delete()
    message_id = message.pk
    services.message_delete(message=message)
    payload = OutboxEvent.objects.get(task=services.DELETE_TASK).payload
    assert payload["user_ids"] == sorted([alice.pk, bob.pk, carol.pk])
    drain(services.DELETE_TASK, lambda d: services.message_delete_announce(deletions=d))
    body = {"id": message_id, "conversation": conversation.pk}
    for user in (alice, bob, carol):
        assert list(LiveEvent.objects.filter(user=user).values_list("type", "data")) == [
            ("message.deleted", body)
        ]


def test_joining_and_leaving_a_conversation_is_announced(alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob])
    drain(services.MEMBERSHIP_TASK, lambda c: services.conversation_membership_announce(changes=c))
    added = LiveEvent.objects.get(user=bob, type="conversation.added").data
    assert [p["id"] for p in added["participants"]] == sorted([alice.pk, bob.pk])
    assert log(alice) == [(1, "conversation.added")]
    conversation.participants.add(carol)
    conversation.participants.remove(bob)
    drain(services.MEMBERSHIP_TASK, lambda c: services.conversation_membership_announce(changes=c))
    assert [e[1] for e in log(carol)] == ["conversation.added"]
    assert LiveEvent.objects.get(user=bob, type="conversation.removed").data == {
        "id": conversation.pk
    }
    assert [e[1] for e in log(alice)] == ["conversation.added"]  # nothing new for the others


def test_a_rolled_back_change_writes_and_publishes_nothing(
    alice, bob, django_capture_on_commit_callbacks
):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                services.notification_create_for_messages(message_ids=[message.pk])
                raise RuntimeError("the worker's transaction fails")
        except RuntimeError:
            pass
    assert not LiveEvent.objects.exists() and callbacks == []


def test_the_fan_out_costs_the_same_queries_for_one_message_or_twenty(
    alice, bob, carol, django_assert_max_num_queries
):
    conversation = conversation_create(creator=alice, participants=[bob, carol])

    def posts(n):
        return [
            services.conversation_message_post(
                sender=bob, conversation=conversation, content="x"
            ).pk
            for _ in range(n)
        ]

    one, twenty = posts(1), posts(20)
    with django_assert_max_num_queries(10) as first:
        services.notification_create_for_messages(message_ids=one)
    with django_assert_max_num_queries(len(first.captured_queries)):
        services.notification_create_for_messages(message_ids=twenty)
