"""Signal receivers record outbox events in the saving transaction and publish only on commit."""

from unittest import mock

import pytest
from django.db import transaction

from chats.models import Conversation
from messaging import services
from messaging.models import Message
from outbox.models import OutboxEvent
from outbox.services import outbox_flush

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """Record what would be sent to the broker instead of sending it."""
    with mock.patch("celery_app.app.send_task") as send_task:
        yield send_task


def sent_task_names(send_task) -> list[str]:
    return [c.args[0] for c in send_task.call_args_list]


def test_new_message_schedules_notification_task_on_commit(
    alice, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.message_send(sender=alice, receiver=bob, content="hi")
    event = OutboxEvent.objects.get(task="notification_create_for_messages")
    assert event.payload == {"message_id": message.pk}
    assert published.call_count == 0  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    outbox_flush()  # the publish runs on the background publisher thread
    assert sent_task_names(published) == ["notification_create_for_messages"]
    assert published.call_args.kwargs["task_id"] == str(event.pk)
    assert published.call_args.kwargs["kwargs"] == {"event_id": str(event.pk)}


def test_rolled_back_message_schedules_nothing(
    alice, bob, published, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.message_send(sender=alice, receiver=bob, content="never")
        raise RuntimeError("roll back")
    assert callbacks == []
    assert published.call_count == 0
    assert not Message.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_edit_captures_old_content_editor_and_revision(
    alice, bob, published, django_capture_on_commit_callbacks
):
    message = services.message_send(sender=alice, receiver=bob, content="v1")
    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(message=message, editor=alice, content="v2")
        services.message_edit(message=message, editor=alice, content="v3")
    outbox_flush()
    edits = OutboxEvent.objects.filter(task="message_history_archive").order_by("created_at")
    payloads = [e.payload for e in edits]
    assert [(p["revision"], p["old_content"], p["edited_by_id"]) for p in payloads] == [
        (1, "v1", alice.pk),
        (2, "v2", alice.pk),
    ]
    assert sent_task_names(published).count("message_history_archive") == 2
    message.refresh_from_db()
    assert (message.content, message.edit_count, message.edited) == ("v3", 2, True)


def test_saving_without_a_content_change_records_no_edit(alice, bob, published):
    message = services.message_send(sender=alice, receiver=bob, content="same")
    services.message_edit(message=message, editor=alice, content="same")
    message.save()
    assert not OutboxEvent.objects.filter(task="message_history_archive").exists()


def test_edit_from_the_shell_is_captured_too(alice, bob, published):
    message = services.message_send(sender=alice, receiver=bob, content="before")
    message = Message.objects.get(pk=message.pk)
    message.content = "after"
    message.save(update_fields=["content"])
    event = OutboxEvent.objects.get(task="message_history_archive")
    assert event.payload["old_content"] == "before"
    message.refresh_from_db()
    assert message.edited and message.edit_count == 1 and message.edited_at is not None


def test_group_message_records_one_event(alice, bob, carol, published):
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob, carol)
    services.conversation_message_post(sender=alice, conversation=conversation, content="hey")
    assert OutboxEvent.objects.filter(task="notification_create_for_messages").count() == 1


def test_deleting_a_user_anywhere_schedules_the_purge(
    make_user, published, django_capture_on_commit_callbacks
):
    user = make_user()
    user_id = user.pk
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()  # as the admin or the shell would
    outbox_flush()
    event = OutboxEvent.objects.get(task="user_data_purge")
    assert event.payload == {"user_id": user_id}
    assert event.key == f"user:{user_id}"
    assert sent_task_names(published) == ["user_data_purge"]


def test_receivers_are_connected_once_with_dispatch_uids():
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

    from accounts.models import User
    from chats.models import Conversation

    def uids(signal, sender):
        # Each entry starts with its lookup key: (dispatch_uid, id(sender)).
        return [
            entry[0][0]
            for entry in signal.receivers
            if entry[0][1] == id(sender) and str(entry[0][0]).startswith("messaging.")
        ]

    assert uids(post_save, Message) == ["messaging.message_created"]
    assert uids(pre_save, Message) == ["messaging.message_capture_edit"]
    assert uids(post_delete, User) == ["messaging.user_deleted"]
    assert uids(m2m_changed, Conversation.participants.through) == [
        "messaging.participants_changed"
    ]


def test_unreachable_broker_neither_fails_nor_hangs_the_request(
    alice, bob, api_client_for, caplog, django_capture_on_commit_callbacks
):
    """The publish fails fast; the event stays pending for the relay."""
    import time

    from django.urls import reverse

    from testkit import free_port, use_broker

    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = api_client_for(alice).post(
                reverse("message-list"), {"receiver": bob.pk, "content": "x"}, format="json"
            )
        elapsed = time.monotonic() - started
        outbox_flush()
    assert response.status_code == 201
    assert len(callbacks) >= 1
    assert "could not publish" in caplog.text
    assert elapsed < 3.0
    assert OutboxEvent.objects.filter(processed_at__isnull=True).count() == 1


def test_the_request_does_not_wait_for_the_publish(
    alice, bob, api_client_for, django_capture_on_commit_callbacks
):
    """The publish runs on the publisher thread: a slow broker does not slow the request."""
    import threading
    import time

    from django.urls import reverse

    release = threading.Event()
    seen_threads = []

    def slow_send_task(*args, **kwargs):
        seen_threads.append(threading.current_thread().name)
        release.wait(timeout=10)

    with mock.patch("celery_app.app.send_task", side_effect=slow_send_task):
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):  # runs them on exit, as a commit
            response = api_client_for(alice).post(
                reverse("message-list"), {"receiver": bob.pk, "content": "x"}, format="json"
            )
        elapsed = time.monotonic() - started  # the request and its on-commit hand-off
        release.set()
        outbox_flush()
    assert response.status_code == 201
    assert elapsed < 1.0
    assert seen_threads and seen_threads[0].startswith("outbox-publish")
