"""GET /api/messaging/notifications/ and POST .../{id}/read/."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging import services
from messaging.models import Message, MessageRead, Notification
from testkit import client_for

pytestmark = pytest.mark.django_db

LIST = reverse("notification-list")


def read_url(pk) -> str:
    return reverse("notification-read", args=[pk])


def notify(*messages: Message) -> None:
    """What the worker does after the messages were committed."""
    services.notification_create_for_messages(message_ids=[m.pk for m in messages])


def test_lists_the_callers_notifications_newest_first(alice, bob, carol):
    first = services.message_send(sender=alice, receiver=bob, content="one")
    conversation = Conversation.objects.create(created_by=carol)
    conversation.participants.add(alice, bob, carol)
    second = services.conversation_message_post(
        sender=carol, conversation=conversation, content="two"
    )
    services.message_send(sender=bob, receiver=alice, content="to alice")
    notify(first)
    notify(second)
    Notification.objects.filter(message=first).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    response = client_for(bob).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    results = body["results"]
    assert [n["message"]["id"] for n in results] == [second.pk, first.pk]
    top = results[0]
    assert set(top) == {"id", "message", "created_at", "read", "read_at"}
    assert top["read"] is False
    assert top["read_at"] is None
    assert top["message"]["sender"] == carol.pk
    assert top["message"]["sender_username"] == "carol"
    assert top["message"]["conversation"] == conversation.pk
    assert top["message"]["content"] == "two"
    assert all(
        n["id"] in set(Notification.objects.filter(user=bob).values_list("pk", flat=True))
        for n in results
    )


def test_the_sender_gets_no_notification(alice, bob):
    notify(services.message_send(sender=alice, receiver=bob, content="hi"))
    assert client_for(alice).get(LIST).json()["results"] == []


def test_notifications_of_deleted_accounts_are_hidden(alice, bob, make_user):
    gone = make_user("gone")
    notify(services.message_send(sender=gone, receiver=bob, content="bye"))
    kept = services.message_send(sender=alice, receiver=bob, content="still here")
    notify(kept)
    gone.delete()
    results = client_for(bob).get(LIST).json()["results"]
    assert [n["message"]["id"] for n in results] == [kept.pk]


def test_mark_read_also_marks_the_message_read(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    notify(message)
    notification = Notification.objects.get(user=bob)

    response = client_for(bob).post(read_url(notification.pk))

    assert response.status_code == 200
    assert response.json()["read"] is True
    assert response.json()["read_at"] is not None
    notification.refresh_from_db()
    assert notification.read is True
    assert MessageRead.objects.filter(user=bob, message=message).exists()
    assert client_for(bob).get(reverse("message-unread")).json()["results"] == []

    first_read_at = notification.read_at
    again = client_for(bob).post(read_url(notification.pk))  # idempotent
    assert again.status_code == 200
    notification.refresh_from_db()
    assert notification.read_at == first_read_at
    assert MessageRead.objects.filter(user=bob, message=message).count() == 1


def test_someone_elses_notification_is_404_and_unchanged(alice, bob, carol):
    notify(services.message_send(sender=alice, receiver=bob, content="hi"))
    notification = Notification.objects.get(user=bob)

    for user in (alice, carol):
        response = client_for(user).post(read_url(notification.pk))
        assert response.status_code == 404
        assert "detail" in response.json()
    notification.refresh_from_db()
    assert notification.read is False
    assert not MessageRead.objects.exists()
    assert client_for(carol).post(read_url(10**9)).status_code == 404
    assert client_for(carol).post("/api/messaging/notifications/abc/read/").status_code == 404


def test_notifications_cannot_be_fetched_one_by_one_or_deleted(alice, bob):
    notify(services.message_send(sender=alice, receiver=bob, content="hi"))
    notification = Notification.objects.get()
    url = f"/api/messaging/notifications/{notification.pk}/"
    assert client_for(bob).delete(url).status_code in (404, 405)
    assert Notification.objects.filter(pk=notification.pk).exists()


def test_notifications_are_paginated_without_duplicates(alice, bob):
    start = timezone.now() - timedelta(hours=1)
    messages = Message.objects.bulk_create(
        Message(sender=alice, receiver=bob, content=f"m{i}", timestamp=start) for i in range(9)
    )
    Notification.objects.bulk_create(
        Notification(user=bob, message=m, created_at=start)
        for m in messages  # same time
    )
    expected = list(
        Notification.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    client = client_for(bob)
    body = client.get(LIST, {"page_size": 4}).json()
    seen = [n["id"] for n in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [n["id"] for n in body["results"]]
    assert seen == expected
    assert len(client.get(LIST, {"page_size": 1000}).json()["results"]) == 9


def test_notifications_of_a_conversation_left_are_hidden_and_cannot_be_marked_read(
    alice, bob, carol
):
    """Issue 11: removed from a conversation, then an edit: nothing of it reaches the user."""
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob, carol)
    message = services.conversation_message_post(
        sender=alice, conversation=conversation, content="before"
    )
    direct = services.message_send(sender=alice, receiver=carol, content="direct")
    notify(message, direct)
    theirs = Notification.objects.get(user=carol, message=message)
    conversation.participants.remove(carol)
    services.message_edit(message=message, editor=alice, content="after, for members only")

    client = client_for(carol)
    listed = client.get(LIST).json()["results"]
    assert [n["message"]["id"] for n in listed] == [direct.pk]
    assert "after, for members only" not in client.get(LIST).content.decode()
    response = client.post(read_url(theirs.pk))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read is False
    assert not MessageRead.objects.filter(user=carol, message=message).exists()
    # bob, still a member, sees it as before.
    assert [n["message"]["id"] for n in client_for(bob).get(LIST).json()["results"]] == [message.pk]
