"""Every list endpoint, and the thread endpoint, runs a fixed number of queries.

The numbers are exact on purpose: a new query per row (N+1) changes them with the size, and a new
query per request shows up here first. One query of each request authenticates the JWT's user.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging.models import Message, MessageRead, Notification
from testkit import client_for

pytestmark = pytest.mark.django_db

SIZES = [1, 20, 100]


def ago(seconds: int):
    return timezone.now() - timedelta(hours=1) + timedelta(seconds=seconds)


def group(*users) -> Conversation:
    conversation = Conversation.objects.create(created_by=users[0])
    conversation.participants.add(*users)
    return conversation


def mixed_messages(me, others, n: int) -> list[Message]:
    """n messages `me` sees: received, sent and group posts, some replies, some read."""
    conversation = group(me, *others)
    messages = []
    for i in range(n):
        other = others[i % len(others)]
        kind = i % 3
        fields = {"content": f"m{i}", "timestamp": ago(i)}
        if kind == 0:
            messages.append(Message(sender=other, receiver=me, **fields))
        elif kind == 1:
            messages.append(Message(sender=me, receiver=other, **fields))
        else:
            messages.append(Message(sender=other, conversation=conversation, **fields))
    messages = Message.objects.bulk_create(messages)
    for i, message in enumerate(messages):
        if i and i % 4 == 0:
            message.parent_message = messages[i - 1]
    Message.objects.bulk_update(messages, ["parent_message"])
    MessageRead.objects.bulk_create(
        MessageRead(message=m, user=me) for m in messages[::2] if m.sender_id != me.pk
    )
    return messages


def get(client, url):
    cache.clear()  # the message lists are cached per user: measure the uncached path
    response = client.get(url, {"page_size": 100})
    assert response.status_code == 200
    return response


@pytest.fixture
def others(make_user):
    return [make_user() for _ in range(3)]


@pytest.mark.parametrize("n", SIZES)
def test_message_list(django_assert_num_queries, alice, others, n):
    mixed_messages(alice, others, n)
    client = client_for(alice)
    with django_assert_num_queries(2):
        response = get(client, reverse("message-list"))
    assert len(response.json()["results"]) == n
    assert response["X-Cache"] == "MISS"


@pytest.mark.parametrize("n", SIZES)
def test_message_list_cache_hit_only_authenticates(django_assert_num_queries, alice, others, n):
    mixed_messages(alice, others, n)
    client = client_for(alice)
    assert client.get(reverse("message-list")).status_code == 200
    with django_assert_num_queries(1):
        response = client.get(reverse("message-list"))
    assert response["X-Cache"] == "HIT"


@pytest.mark.parametrize("n", SIZES)
def test_unread(django_assert_num_queries, alice, others, n):
    conversation = group(alice, *others)
    Message.objects.bulk_create(
        Message(sender=others[i % 3], receiver=alice, content=f"m{i}", timestamp=ago(i))
        if i % 2
        else Message(sender=others[i % 3], conversation=conversation, content=f"g{i}")
        for i in range(n)
    )
    client = client_for(alice)
    with django_assert_num_queries(2):
        response = get(client, reverse("message-unread"))
    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", SIZES)
def test_notifications(django_assert_num_queries, alice, others, n):
    messages = Message.objects.bulk_create(
        Message(sender=others[i % 3], receiver=alice, content=f"m{i}", timestamp=ago(i))
        for i in range(n)
    )
    Notification.objects.bulk_create(Notification(user=alice, message=m) for m in messages)
    client = client_for(alice)
    with django_assert_num_queries(2):
        response = get(client, reverse("notification-list"))
    assert len(response.json()["results"]) == n
    assert {r["message"]["sender_username"] for r in response.json()["results"]} <= {
        u.username for u in others
    }


@pytest.mark.parametrize("n", SIZES)
def test_conversations(django_assert_num_queries, alice, others, n):
    for i in range(n):
        group(alice, *others[: 1 + i % 3])
    client = client_for(alice)
    with django_assert_num_queries(3):
        response = get(client, reverse("conversation-list"))
    results = response.json()["results"]
    assert len(results) == n
    assert all(len(c["participants"]) >= 2 for c in results)


@pytest.mark.parametrize("n", SIZES)
def test_conversation_messages(django_assert_num_queries, alice, others, n):
    conversation = group(alice, *others)
    messages = Message.objects.bulk_create(
        Message(
            sender=([alice, *others])[i % 4],
            conversation=conversation,
            content=f"m{i}",
            timestamp=ago(i),
        )
        for i in range(n)
    )
    MessageRead.objects.bulk_create(
        MessageRead(message=m, user=alice) for m in messages[::3] if m.sender_id != alice.pk
    )
    client = client_for(alice)
    with django_assert_num_queries(3):
        response = get(client, reverse("conversation-messages", args=[conversation.pk]))
    assert len(response.json()["results"]) == n


# --- Threads --------------------------------------------------------------------------------


def chain(sender, receiver, depth: int) -> Message:
    """A root with `depth` replies, each answering the previous one."""
    root = Message.objects.create(
        sender=sender, receiver=receiver, content="root", timestamp=ago(0)
    )
    parent = root
    for level in range(1, depth + 1):
        parent = Message.objects.create(
            sender=receiver if level % 2 else sender,
            receiver=sender if level % 2 else receiver,
            content=f"level {level}",
            timestamp=ago(level),
            parent_message=parent,
        )
    return root


def thread_depth(node: dict) -> int:
    depth = 0
    while node["replies"]:
        (node,) = node["replies"]
        depth += 1
    return depth


@pytest.mark.parametrize("depth", [1, 10, 50])
def test_thread_chain(django_assert_num_queries, alice, bob, depth):
    root = chain(alice, bob, depth)
    client = client_for(alice)
    with django_assert_num_queries(3):
        response = client.get(reverse("message-thread", args=[root.pk]))
    assert response.status_code == 200
    assert thread_depth(response.json()) == depth


def test_thread_with_500_replies(django_assert_num_queries, alice, bob):
    root = Message.objects.create(sender=alice, receiver=bob, content="root", timestamp=ago(0))
    Message.objects.bulk_create(
        Message(
            sender=bob,
            receiver=alice,
            content=f"reply {i}",
            timestamp=ago(1 + i),
            parent_message=root,
        )
        for i in range(500)
    )
    client = client_for(alice)
    with django_assert_num_queries(3):
        response = client.get(reverse("message-thread", args=[root.pk]))
    assert response.status_code == 200
    replies = response.json()["replies"]
    assert len(replies) == 500
    assert [r["content"] for r in replies[:3]] == ["reply 0", "reply 1", "reply 2"]


def test_thread_with_500_replies_in_a_tree(django_assert_num_queries, alice, bob):
    root = Message.objects.create(sender=alice, receiver=bob, content="root", timestamp=ago(0))
    level = [root]
    created = 0
    while created < 500:  # every message gets up to 5 replies, breadth first
        next_level = []
        for parent in level:
            batch = Message.objects.bulk_create(
                Message(
                    sender=bob,
                    receiver=alice,
                    content=f"r{created + k}",
                    timestamp=ago(1 + created + k),
                    parent_message=parent,
                )
                for k in range(min(5, 500 - created))
            )
            created += len(batch)
            next_level += batch
            if created >= 500:
                break
        level = next_level
    client = client_for(alice)
    with django_assert_num_queries(3):
        response = client.get(reverse("message-thread", args=[root.pk]))

    def count(node: dict) -> int:
        return len(node["replies"]) + sum(count(child) for child in node["replies"])

    assert count(response.json()) == 500
