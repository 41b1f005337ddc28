"""End to end with a real worker process on the real Redis broker (no eager mode)."""

import pytest
from django.urls import reverse

from chats.models import Conversation
from messaging.models import Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent
from testkit import client_for, wait_until

PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_posted_message_yields_notification(celery_worker_process, alice, bob):
    response = client_for(alice).post(
        reverse("message-list"), {"receiver": bob.pk, "content": "hello"}, format="json"
    )
    assert response.status_code == 201
    message_id = response.json()["id"]
    notification = wait_until(
        lambda: Notification.objects.filter(user=bob, message_id=message_id).first()
    )
    assert notification.read is False
    listed = client_for(bob).get(reverse("notification-list")).json()["results"]
    assert [n["message"]["id"] for n in listed] == [message_id]
    assert not Notification.objects.filter(user=alice).exists()
    wait_until(lambda: not OutboxEvent.objects.filter(processed_at__isnull=True).exists())


def test_group_message_notifies_every_other_participant(celery_worker_process, make_user, alice):
    others = [make_user() for _ in range(5)]
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, *others)
    response = client_for(alice).post(
        reverse("conversation-messages", args=[conversation.pk]),
        {"content": "hi all"},
        format="json",
    )
    assert response.status_code == 201
    message_id = response.json()["id"]
    wait_until(lambda: Notification.objects.filter(message_id=message_id).count() == 5)
    assert set(Notification.objects.values_list("user_id", flat=True)) == {u.pk for u in others}


def test_two_quick_edits_yield_two_history_rows_in_order(celery_worker_process, alice, bob):
    client = client_for(alice)
    message_id = client.post(
        reverse("message-list"), {"receiver": bob.pk, "content": "v1"}, format="json"
    ).json()["id"]
    url = reverse("message-detail", args=[message_id])
    assert client.patch(url, {"content": "v2"}, format="json").status_code == 200
    assert client.patch(url, {"content": "v3"}, format="json").status_code == 200
    wait_until(lambda: MessageHistory.objects.filter(message_id=message_id).count() == 2)
    history = client.get(reverse("message-history", args=[message_id])).json()
    assert [(h["revision"], h["old_content"]) for h in history] == [(1, "v1"), (2, "v2")]
    assert Message.objects.get(pk=message_id).content == "v3"


def test_deleting_a_user_purges_theirs_and_nothing_else(
    celery_worker_process, make_user, alice, bob, carol
):
    conversation = Conversation.objects.create(created_by=bob)
    conversation.participants.add(alice, bob, carol)
    a_client, b_client, c_client = client_for(alice), client_for(bob), client_for(carol)
    to_bob = a_client.post(
        reverse("message-list"), {"receiver": bob.pk, "content": "a->b"}, format="json"
    ).json()["id"]
    from_bob = b_client.post(
        reverse("message-list"), {"receiver": alice.pk, "content": "b->a"}, format="json"
    ).json()["id"]
    carol_to_bob = c_client.post(
        reverse("message-list"), {"receiver": bob.pk, "content": "c->b"}, format="json"
    ).json()["id"]
    alice_in_group = a_client.post(
        reverse("conversation-messages", args=[conversation.pk]),
        {"content": "a in group"},
        format="json",
    ).json()["id"]
    bob_in_group = b_client.post(
        reverse("conversation-messages", args=[conversation.pk]),
        {"content": "b in group"},
        format="json",
    ).json()["id"]
    carol_reply_to_bob = c_client.post(
        reverse("conversation-messages", args=[conversation.pk]),
        {"content": "c replies to b", "parent_message": bob_in_group},
        format="json",
    ).json()["id"]
    a_client.patch(reverse("message-detail", args=[from_bob]), {"content": "x"}, format="json")
    b_client.patch(
        reverse("message-detail", args=[from_bob]), {"content": "b->a v2"}, format="json"
    )
    MessageRead.objects.create(message_id=alice_in_group, user=bob)
    wait_until(lambda: Notification.objects.count() == 9)  # 3 direct + 3 group posts x 2
    wait_until(lambda: MessageHistory.objects.count() == 1)

    response = b_client.post(reverse("delete-user"), {"password": PASSWORD}, format="json")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert b_client.get(reverse("me")).status_code == 401

    gone = {to_bob, from_bob, carol_to_bob, bob_in_group}
    wait_until(lambda: not Message.objects.filter(pk__in=gone).exists())
    wait_until(lambda: OutboxEvent.objects.get(pk=task_id).processed_at is not None)
    remaining = set(Message.objects.values_list("pk", flat=True))
    assert remaining == {alice_in_group, carol_reply_to_bob}
    assert Message.objects.get(pk=carol_reply_to_bob).parent_message_id is None
    assert not Notification.objects.filter(user_id=bob.pk).exists()
    assert not Notification.objects.filter(message_id__in=gone).exists()
    assert not MessageHistory.objects.exists()
    assert not MessageRead.objects.filter(user_id=bob.pk).exists()
    assert list(conversation.participants.order_by("pk")) == [alice, carol]
    # what others had of their own stays: carol's notification of alice's group message
    assert Notification.objects.filter(user=carol, message_id=alice_in_group).exists()
