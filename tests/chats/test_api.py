"""Conversations and their messages through the HTTP API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging import services
from messaging.models import Message
from outbox.models import OutboxEvent
from testkit import client_for

pytestmark = pytest.mark.django_db

LIST = reverse("conversation-list")


def detail(pk) -> str:
    return reverse("conversation-detail", args=[pk])


def messages_url(pk) -> str:
    return reverse("conversation-messages", args=[pk])


def group(*users, created_at=None) -> Conversation:
    conversation = Conversation.objects.create(
        created_by=users[0], created_at=created_at or timezone.now()
    )
    conversation.participants.add(*users)
    return conversation


def post(sender, conversation, content="hi", **kwargs) -> Message:
    return services.conversation_message_post(
        sender=sender, conversation=conversation, content=content, **kwargs
    )


def counts() -> tuple[int, ...]:
    return (
        Conversation.objects.count(),
        Conversation.participants.through.objects.count(),
        Message.objects.count(),
        OutboxEvent.objects.count(),
    )


# --- Conversations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", LIST),
        ("post", LIST),
        ("get", "/api/conversations/1/"),
        ("get", "/api/conversations/1/messages/"),
        ("post", "/api/conversations/1/messages/"),
    ],
)
def test_anonymous_gets_401(anon, method, url):
    assert getattr(anon, method)(url, {}, format="json").status_code == 401


def test_create_adds_the_caller(alice, bob, carol):
    response = client_for(alice).post(LIST, {"participants": [bob.pk, carol.pk]}, format="json")

    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get()
    assert body["id"] == conversation.pk
    assert body["created_by"] == alice.pk
    assert body["created_at"]
    assert body["participants"] == [
        {"id": alice.pk, "username": "alice"},
        {"id": bob.pk, "username": "bob"},
        {"id": carol.pk, "username": "carol"},
    ]
    assert set(conversation.participants.values_list("pk", flat=True)) == {
        alice.pk,
        bob.pk,
        carol.pk,
    }


def test_create_with_the_caller_and_duplicates_listed(alice, bob):
    response = client_for(alice).post(
        LIST, {"participants": [bob.pk, alice.pk, bob.pk]}, format="json"
    )
    assert response.status_code == 201
    assert [p["id"] for p in response.json()["participants"]] == [alice.pk, bob.pk]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "participants"),
        ({"participants": []}, "participants"),
        ({"participants": ["ALICE"]}, "participants"),  # only the caller
        ({"participants": [10**9]}, "participants"),
        ({"participants": ["BOB", 10**9]}, "participants"),
        ({"participants": ["INACTIVE"]}, "participants"),
        ({"participants": ["x"]}, "participants"),
        ({"participants": [2**70]}, "participants"),
        ({"participants": [-3]}, "participants"),
        ({"participants": "BOB"}, "participants"),
        ({"participants": None}, "participants"),
        ({"participants": {"id": 1}}, "participants"),
        ({"participants": [[1]]}, "participants"),
    ],
)
def test_invalid_conversation_is_400_and_changes_nothing(alice, bob, make_user, body, field):
    inactive = make_user(is_active=False)
    names = {"ALICE": alice.pk, "BOB": bob.pk, "INACTIVE": inactive.pk}

    def resolve(value):
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    body = {k: resolve(v) for k, v in body.items()}
    before = counts()

    response = client_for(alice).post(LIST, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert counts() == before


def test_unknown_participants_are_not_named(alice, bob, make_user):
    """Naming the ids that do not exist would let any user list every account."""
    inactive = make_user(is_active=False)
    answers = [
        client_for(alice).post(LIST, {"participants": ids}, format="json").json()
        for ids in ([bob.pk, 10**9], [bob.pk, inactive.pk], [bob.pk, 10**9 + 1, inactive.pk])
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == {"participants": ["Some participants are invalid."]}
    assert Conversation.objects.count() == 0


def test_too_many_participants_is_400(alice, settings):
    settings.CONVERSATION_MAX_PARTICIPANTS = 500
    before = counts()
    response = client_for(alice).post(LIST, {"participants": list(range(1, 502))}, format="json")
    assert response.status_code == 400
    assert counts() == before


@pytest.mark.parametrize("raw", [b'{"participants": [1', b"[]", b"participants=1", b"null"])
def test_malformed_conversation_body_is_400(alice, raw):
    response = client_for(alice).generic("POST", LIST, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()
    assert Conversation.objects.count() == 0


def test_list_shows_only_the_callers_conversations_newest_first(alice, bob, carol):
    now = timezone.now()
    old = group(alice, bob, created_at=now - timedelta(hours=2))
    new = group(carol, alice, created_at=now - timedelta(hours=1))
    group(bob, carol)  # without alice

    response = client_for(alice).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [c["id"] for c in body["results"]] == [new.pk, old.pk]
    assert [p["username"] for p in body["results"][1]["participants"]] == ["alice", "bob"]


def test_conversation_list_pagination(alice, bob):
    now = timezone.now()
    made = [group(alice, bob, created_at=now - timedelta(minutes=i)).pk for i in range(7)]
    client = client_for(alice)
    body = client.get(LIST, {"page_size": 3}).json()
    seen = [c["id"] for c in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [c["id"] for c in body["results"]]
    assert seen == made


def test_participant_retrieves_a_conversation(alice, bob):
    conversation = group(alice, bob)
    response = client_for(bob).get(detail(conversation.pk))
    assert response.status_code == 200
    assert response.json()["id"] == conversation.pk
    assert {p["id"] for p in response.json()["participants"]} == {alice.pk, bob.pk}


def test_non_participant_gets_404(alice, bob, carol):
    conversation = group(alice, bob)
    response = client_for(carol).get(detail(conversation.pk))
    assert response.status_code == 404
    missing = client_for(carol).get(detail(10**9))
    assert missing.status_code == 404
    assert missing.json() == response.json()


@pytest.mark.parametrize("bad_id", ["abc", "1.0", "-1", "0", "99999999999999999999"])
def test_non_integer_conversation_ids_are_404(alice, bad_id):
    client = client_for(alice)
    messages = f"/api/conversations/{bad_id}/messages/"
    for response in (
        client.get(f"/api/conversations/{bad_id}/"),
        client.get(messages),
        client.post(messages, {"content": "x"}, format="json"),
        client.post(f"/api/conversations/{bad_id}/leave/"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
    assert Message.objects.count() == 0


def test_conversations_cannot_be_changed_or_deleted(alice, bob, carol):
    conversation = group(alice, bob)
    client = client_for(alice)
    assert client.patch(detail(conversation.pk), {"participants": [carol.pk]}).status_code == 405
    assert client.delete(detail(conversation.pk)).status_code == 405
    assert set(conversation.participants.values_list("pk", flat=True)) == {alice.pk, bob.pk}


def leave(pk) -> str:
    return reverse("conversation-leave", args=[pk])


def test_a_participant_leaves_a_conversation(alice, bob, carol, django_capture_on_commit_callbacks):
    conversation = group(alice, bob, carol)
    post(bob, conversation, "before")
    client = client_for(carol)
    assert client.get(messages_url(conversation.pk)).status_code == 200  # cached now
    assert len(client.get(reverse("message-list")).json()["results"]) == 1  # cached too
    assert [c["id"] for c in client.get(LIST).json()["results"]] == [conversation.pk]

    with django_capture_on_commit_callbacks(execute=True):  # the invalidation, after commit
        response = client.post(leave(conversation.pk))

    assert response.status_code == 204
    assert set(conversation.participants.values_list("pk", flat=True)) == {alice.pk, bob.pk}
    # At once, cached lists included: the conversation, its messages and its posts are gone.
    assert client.get(messages_url(conversation.pk)).status_code == 404
    assert client.get(detail(conversation.pk)).status_code == 404
    assert client.get(LIST).json()["results"] == []
    assert client.get(reverse("message-list")).json()["results"] == []
    assert client.post(messages_url(conversation.pk), {"content": "x"}).status_code == 404
    # The others go on, and see that carol left.
    names = [
        p["username"] for p in client_for(bob).get(detail(conversation.pk)).json()["participants"]
    ]
    assert names == ["alice", "bob"]


def test_leaving_is_404_for_a_non_participant_or_a_second_time(alice, bob, carol):
    conversation = group(alice, bob)
    before = counts()
    assert client_for(carol).post(leave(conversation.pk)).status_code == 404
    assert client_for(carol).post(leave(10**9)).status_code == 404
    assert counts() == before
    assert client_for(bob).post(leave(conversation.pk)).status_code == 204
    assert client_for(bob).post(leave(conversation.pk)).status_code == 404


def test_leaving_needs_a_login(anon, alice, bob):
    conversation = group(alice, bob)
    assert anon.post(leave(conversation.pk)).status_code == 401


# --- Conversation messages ------------------------------------------------------------------


def test_messages_newest_first_with_the_callers_read_state(alice, bob, carol):
    conversation = group(alice, bob, carol)
    first = post(alice, conversation, "one")
    second = post(bob, conversation, "two")
    third = post(carol, conversation, "three")
    services.message_send(sender=alice, receiver=bob, content="direct, not listed")
    post(alice, group(alice, bob), "other conversation, not listed")
    services.message_mark_read(message=second, user=alice)

    response = client_for(alice).get(messages_url(conversation.pk))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [m["id"] for m in results] == [third.pk, second.pk, first.pk]
    assert [m["read"] for m in results] == [False, True, True]
    assert all(m["conversation"] == conversation.pk for m in results)
    assert all(m["receiver"] is None for m in results)


def test_messages_are_paginated(alice, bob):
    conversation = group(alice, bob)
    start = timezone.now() - timedelta(hours=1)
    Message.objects.bulk_create(
        Message(sender=alice, conversation=conversation, content=f"m{i}", timestamp=start)
        for i in range(11)
    )
    expected = list(Message.objects.order_by("-timestamp", "-id").values_list("pk", flat=True))
    client = client_for(bob)
    body = client.get(messages_url(conversation.pk), {"page_size": 4}).json()
    seen = [m["id"] for m in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [m["id"] for m in body["results"]]
    assert seen == expected
    capped = client.get(messages_url(conversation.pk), {"page_size": 500}).json()
    assert len(capped["results"]) == 11


def test_post_a_message_to_the_conversation(alice, bob, carol):
    conversation = group(alice, bob, carol)

    response = client_for(bob).post(
        messages_url(conversation.pk),
        {"content": "hello all", "sender": alice.pk, "receiver": carol.pk},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    message = Message.objects.get()
    assert body["id"] == message.pk
    assert (body["sender"], body["receiver"], body["conversation"]) == (
        bob.pk,
        None,
        conversation.pk,
    )
    assert body["read"] is True
    assert (message.sender_id, message.receiver_id, message.conversation_id) == (
        bob.pk,
        None,
        conversation.pk,
    )
    assert OutboxEvent.objects.filter(
        task="notification_create_for_messages", payload={"message_id": message.pk}
    ).exists()
    # Every other participant receives it.
    for user, unread in ((alice, [message.pk]), (carol, [message.pk]), (bob, [])):
        listed = client_for(user).get(reverse("message-unread")).json()["results"]
        assert [m["id"] for m in listed] == unread


def test_reply_in_the_same_conversation(alice, bob):
    conversation = group(alice, bob)
    parent = post(alice, conversation, "question")
    response = client_for(bob).post(
        messages_url(conversation.pk),
        {"content": "answer", "parent_message": parent.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["parent_message"] == parent.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": " \n\t "}, "content"),
        ({"content": "x" * 10_001}, "content"),
        ({"content": None}, "content"),
        ({"content": ["x"]}, "content"),
        ({"content": "hi", "parent_message": "OTHER_CONVERSATION"}, "parent_message"),
        ({"content": "hi", "parent_message": "DIRECT"}, "parent_message"),
        ({"content": "hi", "parent_message": "INVISIBLE"}, "parent_message"),
        ({"content": "hi", "parent_message": 10**9}, "parent_message"),
        ({"content": "hi", "parent_message": "abc"}, "parent_message"),
        ({"content": "hi", "parent_message": 2**70}, "parent_message"),
    ],
)
def test_invalid_group_message_is_400_and_changes_nothing(alice, bob, carol, body, field):
    conversation = group(alice, bob)
    parents = {
        "OTHER_CONVERSATION": post(alice, group(alice, bob, carol), "elsewhere").pk,
        "DIRECT": services.message_send(sender=bob, receiver=alice, content="direct").pk,
        "INVISIBLE": post(carol, group(carol, bob), "alice cannot see this").pk,
    }
    body = {k: parents.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = counts()

    response = client_for(alice).post(messages_url(conversation.pk), body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert counts() == before


def test_malformed_group_message_body_is_400(alice, bob):
    conversation = group(alice, bob)
    response = client_for(alice).generic(
        "POST", messages_url(conversation.pk), b'{"content": "x', content_type="application/json"
    )
    assert response.status_code == 400
    assert Message.objects.count() == 0


def test_non_participant_gets_404_on_messages(alice, bob, carol):
    conversation = group(alice, bob)
    post(alice, conversation, "private")
    before = counts()
    client = client_for(carol)

    get = client.get(messages_url(conversation.pk))
    created = client.post(messages_url(conversation.pk), {"content": "let me in"}, format="json")

    assert get.status_code == 404
    assert created.status_code == 404
    assert counts() == before
    for method in ("get", "post"):
        missing = getattr(client, method)(messages_url(10**9), {"content": "x"}, format="json")
        assert missing.status_code == 404
        assert missing.json() == get.json()


def test_messages_of_deleted_accounts_are_hidden(alice, bob, carol):
    conversation = group(alice, bob, carol)
    post(bob, conversation, "bob leaves")
    kept = post(carol, conversation, "carol stays")
    bob.delete()
    results = client_for(alice).get(messages_url(conversation.pk)).json()["results"]
    assert [m["id"] for m in results] == [kept.pk]
