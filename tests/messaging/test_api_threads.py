"""GET /api/messaging/messages/{id}/thread/: a message and all its replies, nested."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging import services
from messaging.models import Message
from testkit import client_for

pytestmark = pytest.mark.django_db


def thread_url(pk) -> str:
    return reverse("message-thread", args=[pk])


def at(minutes: int):
    return timezone.now() - timedelta(days=1) + timedelta(minutes=minutes)


def direct(sender, receiver, content, minute, parent=None) -> Message:
    return Message.objects.create(
        sender=sender,
        receiver=receiver,
        content=content,
        timestamp=at(minute),
        parent_message=parent,
    )


def shape(node: dict) -> list:
    """A nested thread as [content, [children...]]."""
    return [node["content"], [shape(child) for child in node["replies"]]]


def test_thread_is_nested_oldest_first_at_each_level(alice, bob):
    root = direct(alice, bob, "root", 0)
    # Created out of time order on purpose: the order comes from the timestamps.
    late = direct(bob, alice, "late reply", 30, root)
    early = direct(bob, alice, "early reply", 10, root)
    direct(alice, bob, "early-2", 25, early)
    direct(alice, bob, "early-1", 15, early)
    direct(bob, alice, "late-1", 40, late)
    deep = direct(alice, bob, "early-1-a", 20, Message.objects.get(content="early-1"))
    direct(bob, alice, "deepest", 21, deep)
    direct(alice, bob, "unrelated", 5)

    for user in (alice, bob):
        response = client_for(user).get(thread_url(root.pk))
        assert response.status_code == 200
        assert shape(response.json()) == [
            "root",
            [
                [
                    "early reply",
                    [["early-1", [["early-1-a", [["deepest", []]]]]], ["early-2", []]],
                ],
                ["late reply", [["late-1", []]]],
            ],
        ]
        assert response["X-Thread-Truncated"] == "false"


def test_thread_nodes_carry_message_fields_and_read_state(alice, bob):
    root = direct(alice, bob, "root", 0)
    reply = direct(bob, alice, "reply", 1, root)
    services.message_mark_read(message=root, user=bob)

    body = client_for(bob).get(thread_url(root.pk)).json()

    assert body["id"] == root.pk
    assert body["parent_message"] is None
    assert body["read"] is True  # bob read it
    child = body["replies"][0]
    assert child["id"] == reply.pk
    assert child["parent_message"] == root.pk
    assert child["sender"] == bob.pk
    assert child["read"] is True  # bob's own
    assert child["replies"] == []
    alice_view = client_for(alice).get(thread_url(root.pk)).json()
    assert alice_view["replies"][0]["read"] is False  # alice has not read bob's reply


def test_thread_of_a_reply_starts_at_that_reply(alice, bob):
    root = direct(alice, bob, "root", 0)
    middle = direct(bob, alice, "middle", 1, root)
    direct(alice, bob, "leaf", 2, middle)
    direct(alice, bob, "sibling", 3, root)

    assert shape(client_for(alice).get(thread_url(middle.pk)).json()) == [
        "middle",
        [["leaf", []]],
    ]


def test_group_thread_is_visible_to_participants_only(alice, bob, carol):
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob)
    root = services.conversation_message_post(sender=alice, conversation=conversation, content="q")
    services.conversation_message_post(
        sender=bob, conversation=conversation, content="a", parent_message=root
    )

    assert shape(client_for(bob).get(thread_url(root.pk)).json()) == ["q", [["a", []]]]
    response = client_for(carol).get(thread_url(root.pk))
    assert response.status_code == 404
    assert "detail" in response.json()


def test_replies_of_deleted_accounts_are_left_out(alice, bob, make_user):
    gone = make_user("gone")
    root = direct(alice, bob, "root", 0)
    direct(bob, alice, "kept", 1, root)
    hidden = Message.objects.create(
        sender=gone, receiver=alice, content="from a deleted account", timestamp=at(2)
    )
    Message.objects.filter(pk=hidden.pk).update(parent_message=root)
    gone.delete()

    assert shape(client_for(alice).get(thread_url(root.pk)).json()) == ["root", [["kept", []]]]


def test_thread_is_cut_at_the_limit_and_says_so(alice, bob, settings):
    settings.THREAD_MAX_MESSAGES = 5
    root = direct(alice, bob, "root", 0)
    for minute in range(1, 10):
        direct(bob, alice, f"r{minute}", minute, root)

    response = client_for(alice).get(thread_url(root.pk))

    assert response.status_code == 200
    assert response["X-Thread-Truncated"] == "true"
    assert [r["content"] for r in response.json()["replies"]] == ["r1", "r2", "r3", "r4"]


def test_a_parent_cycle_does_not_loop(alice, bob):
    first = direct(alice, bob, "first", 0)
    second = direct(bob, alice, "second", 1, first)
    Message.objects.filter(pk=first.pk).update(parent_message=second)  # only by hand in the db

    response = client_for(alice).get(thread_url(first.pk))

    assert response.status_code == 200
    assert response.json()["content"] == "first"


def test_thread_of_a_missing_message_is_404(alice):
    assert client_for(alice).get(thread_url(10**9)).status_code == 404
    assert client_for(alice).get("/api/messaging/messages/abc/thread/").status_code == 404


def _chain(alice, bob, length: int) -> list[Message]:
    chain = [direct(alice, bob, "root", 0)]
    for i in range(1, length + 1):
        chain.append(
            direct(bob if i % 2 else alice, alice if i % 2 else bob, f"r{i}", i, chain[-1])
        )
    return chain


def _depth(node: dict) -> int:
    depth = 0
    while node["replies"]:
        node = node["replies"][0]
        depth += 1
    return depth


@pytest.mark.parametrize("length", [60, 400])
def test_a_deep_reply_chain_is_cut_at_the_depth_limit_not_a_500(alice, bob, settings, length):
    settings.THREAD_MAX_DEPTH = 50
    chain = _chain(alice, bob, length)
    response = client_for(alice).get(thread_url(chain[0].pk))
    assert response.status_code == 200
    assert _depth(response.json()) == min(length, 50)
    assert response["X-Thread-Truncated"] == ("true" if length > 50 else "false")


def test_default_depth_limit_renders_a_chain_deeper_than_the_recursion_limit(alice, bob):
    chain = _chain(alice, bob, 1_100)  # deeper than Python's default recursion limit
    response = client_for(alice).get(thread_url(chain[0].pk))
    assert response.status_code == 200
    assert _depth(response.json()) == 100
    assert response["X-Thread-Truncated"] == "true"
