"""Direct messages through the HTTP API: list, send, read, edit, delete, unread, history."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging import services
from messaging.models import Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent
from testkit import client_for

pytestmark = pytest.mark.django_db

LIST = reverse("message-list")
UNREAD = reverse("message-unread")


def detail(pk) -> str:
    return reverse("message-detail", args=[pk])


def action(name: str, pk) -> str:
    return reverse(f"message-{name}", args=[pk])


def send(sender, receiver, content="hi", **kwargs) -> Message:
    return services.message_send(sender=sender, receiver=receiver, content=content, **kwargs)


def group(*users) -> Conversation:
    conversation = Conversation.objects.create(created_by=users[0])
    conversation.participants.add(*users)
    return conversation


def post_group(sender, conversation, content="hi all", **kwargs) -> Message:
    return services.conversation_message_post(
        sender=sender, conversation=conversation, content=content, **kwargs
    )


def ids(response) -> list[int]:
    return [m["id"] for m in response.json()["results"]]


def counts() -> tuple[int, ...]:
    """Rows a failed request must leave alone."""
    return (
        Message.objects.count(),
        MessageRead.objects.count(),
        MessageHistory.objects.count(),
        Notification.objects.count(),
        OutboxEvent.objects.count(),
    )


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", LIST),
        ("post", LIST),
        ("get", UNREAD),
        ("get", "/api/messaging/messages/1/"),
        ("patch", "/api/messaging/messages/1/"),
        ("delete", "/api/messaging/messages/1/"),
        ("post", "/api/messaging/messages/1/read/"),
        ("get", "/api/messaging/messages/1/history/"),
        ("get", "/api/messaging/messages/1/thread/"),
        ("get", "/api/messaging/notifications/"),
        ("post", "/api/messaging/notifications/1/read/"),
        ("post", "/api/messaging/delete-user/"),
    ],
)
def test_anonymous_gets_401(anon, method, url):
    response = getattr(anon, method)(url, {}, format="json")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_invalid_token_gets_401(alice):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert client.get(LIST).status_code == 401


# --- List -----------------------------------------------------------------------------------


def test_list_has_sent_and_received_direct_and_group_newest_first(alice, bob, carol):
    to_bob = send(alice, bob, "a->b")
    from_bob = send(bob, alice, "b->a")
    conversation = group(alice, bob, carol)
    carol_group = post_group(carol, conversation, "carol in group")
    alice_group = post_group(alice, conversation, "alice in group")
    send(bob, carol, "b->c: not alice's")
    group(bob, carol)  # a conversation alice is not in
    post_group(bob, Conversation.objects.exclude(pk=conversation.pk).get(), "not alice's")

    response = client_for(alice).get(LIST)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert ids(response) == [alice_group.pk, carol_group.pk, from_bob.pk, to_bob.pk]
    first = body["results"][0]
    for field in (
        "id",
        "sender",
        "receiver",
        "conversation",
        "content",
        "timestamp",
        "edited",
        "edited_at",
        "parent_message",
        "read",
    ):
        assert field in first
    assert first["conversation"] == conversation.pk
    assert first["receiver"] is None
    assert first["sender"] == alice.pk


def test_list_read_flag_is_the_callers_view(alice, bob, carol):
    direct = send(alice, bob, "to bob")
    conversation = group(alice, bob, carol)
    in_group = post_group(alice, conversation)
    services.message_mark_read(message=in_group, user=carol)

    def read_flags(user) -> dict[int, bool]:
        cache.clear()  # the list is cached per user; this test is about the data
        return {m["id"]: m["read"] for m in client_for(user).get(LIST).json()["results"]}

    assert read_flags(alice) == {direct.pk: True, in_group.pk: True}  # her own messages
    assert read_flags(bob) == {direct.pk: False, in_group.pk: False}
    assert read_flags(carol) == {in_group.pk: True}

    services.message_mark_read(message=direct, user=bob)
    assert read_flags(bob) == {direct.pk: True, in_group.pk: False}


def test_list_hides_messages_of_deleted_accounts(alice, bob, carol):
    kept = send(alice, carol, "stays")
    send(alice, bob, "to a deleted account")
    send(bob, alice, "from a deleted account")
    conversation = group(alice, bob, carol)
    post_group(bob, conversation, "group post by a deleted account")
    group_kept = post_group(carol, conversation, "group post stays")
    bob.delete()  # the purge would run in the worker; until then nothing of bob's shows

    assert ids(client_for(alice).get(LIST)) == [group_kept.pk, kept.pk]


def test_list_is_empty_for_a_new_user(alice):
    assert client_for(alice).get(LIST).json() == {"next": None, "previous": None, "results": []}


# --- Create ---------------------------------------------------------------------------------


def test_send_direct_message(alice, bob):
    response = client_for(alice).post(LIST, {"receiver": bob.pk, "content": "hello"}, format="json")

    assert response.status_code == 201
    body = response.json()
    message = Message.objects.get()
    assert body["id"] == message.pk
    assert (body["sender"], body["receiver"], body["conversation"]) == (alice.pk, bob.pk, None)
    assert body["content"] == "hello"
    assert body["edited"] is False
    assert body["read"] is True  # the sender's own message
    assert (message.sender_id, message.receiver_id, message.content) == (alice.pk, bob.pk, "hello")
    assert OutboxEvent.objects.filter(
        task="notification_create_for_messages", payload={"message_id": message.pk}
    ).exists()


def test_send_ignores_fields_the_client_must_not_set(alice, bob, carol):
    long_ago = (timezone.now() - timedelta(days=365)).isoformat()
    response = client_for(alice).post(
        LIST,
        {
            "receiver": bob.pk,
            "content": "mine",
            "sender": carol.pk,
            "edited": True,
            "edited_by": carol.pk,
            "timestamp": long_ago,
            "read": True,
            "id": 424242,
        },
        format="json",
    )

    assert response.status_code == 201
    message = Message.objects.get()
    assert message.sender_id == alice.pk
    assert message.edited is False
    assert message.edited_by_id is None
    assert message.pk != 424242
    assert timezone.now() - message.timestamp < timedelta(minutes=1)


def test_send_a_reply_in_the_same_chat(alice, bob):
    parent = send(bob, alice, "question")
    response = client_for(alice).post(
        LIST,
        {"receiver": bob.pk, "content": "answer", "parent_message": parent.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["parent_message"] == parent.pk
    assert Message.objects.get(pk=response.json()["id"]).parent_message_id == parent.pk


def test_content_of_exactly_the_limit_is_accepted(alice, bob):
    response = client_for(alice).post(
        LIST, {"receiver": bob.pk, "content": "x" * 10_000}, format="json"
    )
    assert response.status_code == 201
    assert len(Message.objects.get().content) == 10_000


def test_content_keeps_its_whitespace(alice, bob):
    response = client_for(alice).post(
        LIST, {"receiver": bob.pk, "content": "  two\nlines  "}, format="json"
    )
    assert response.status_code == 201
    assert Message.objects.get().content == "  two\nlines  "


def _parents_outside_the_chat(alice, bob, carol, make_user) -> dict[str, int]:
    """Messages alice may not reply to in her direct chat with bob."""
    gone = make_user("gone")
    parents = {
        "invisible": send(bob, carol, "bob and carol only").pk,
        "other_direct_chat": send(alice, carol, "alice and carol").pk,
        "group": post_group(alice, group(alice, bob), "in a group").pk,
        "missing": 10**9,
        "deleted_account": send(gone, alice, "from an account deleted since").pk,
    }
    gone.delete()
    return parents


@pytest.mark.parametrize(
    "parent_kind", ["invisible", "other_direct_chat", "group", "missing", "deleted_account"]
)
def test_reply_to_a_parent_outside_this_chat_is_400(alice, bob, carol, make_user, parent_kind):
    parents = _parents_outside_the_chat(alice, bob, carol, make_user)
    before = counts()

    response = client_for(alice).post(
        LIST,
        {"receiver": bob.pk, "content": "reply", "parent_message": parents[parent_kind]},
        format="json",
    )

    assert response.status_code == 400
    assert "parent_message" in response.json()
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receiver": "BOB"}, "content"),
        ({"receiver": "BOB", "content": ""}, "content"),
        ({"receiver": "BOB", "content": "   \n\t  "}, "content"),
        ({"receiver": "BOB", "content": "x" * 10_001}, "content"),
        ({"receiver": "BOB", "content": None}, "content"),
        ({"receiver": "BOB", "content": ["a", "b"]}, "content"),
        ({"receiver": "BOB", "content": {"text": "hi"}}, "content"),
        ({"content": "no receiver"}, "receiver"),
        ({"receiver": None, "content": "hi"}, "receiver"),
        ({"receiver": 10**9, "content": "hi"}, "receiver"),
        ({"receiver": 2**70, "content": "hi"}, "receiver"),
        ({"receiver": -1, "content": "hi"}, "receiver"),
        ({"receiver": "abc", "content": "hi"}, "receiver"),
        ({"receiver": "1; DROP TABLE messaging_message", "content": "hi"}, "receiver"),
        ({"receiver": "ALICE", "content": "to myself"}, "receiver"),
        ({"receiver": "INACTIVE", "content": "hi"}, "receiver"),
        ({"receiver": "BOB", "content": "hi", "parent_message": "abc"}, "parent_message"),
        ({"receiver": "BOB", "content": "hi", "parent_message": 0}, "parent_message"),
        ({"receiver": "BOB", "content": "hi", "parent_message": 2**70}, "parent_message"),
        ({"receiver": "BOB", "content": "hi", "parent_message": 1.5}, "parent_message"),
    ],
)
def test_invalid_message_is_400_and_changes_nothing(alice, bob, make_user, body, field):
    inactive = make_user(is_active=False)
    names = {"BOB": bob.pk, "ALICE": alice.pk, "INACTIVE": inactive.pk}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    send(bob, alice, "existing")
    before = counts()

    response = client_for(alice).post(LIST, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert counts() == before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"receiver": 1, "content": "unterminated', "application/json"),
        (b"not json at all", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"", "application/json"),
    ],
)
def test_malformed_body_is_400_json_and_changes_nothing(alice, bob, raw, content_type):
    before = counts()
    response = client_for(alice).generic("POST", LIST, raw, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()
    assert counts() == before


def test_unsupported_media_type_is_415(alice, bob):
    response = client_for(alice).generic(
        "POST", LIST, b"receiver=1&content=hi", content_type="text/plain"
    )
    assert response.status_code == 415
    assert Message.objects.count() == 0


def test_oversized_body_is_refused(alice, bob):
    body = {"receiver": bob.pk, "content": "x" * 200_000}
    response = client_for(alice).post(LIST, body, format="json")
    assert response.status_code in (400, 413)
    assert response.json()
    assert Message.objects.count() == 0


# --- Retrieve, edit, delete -----------------------------------------------------------------


def test_sender_and_receiver_can_retrieve(alice, bob):
    message = send(alice, bob, "hi bob")
    for user, read in ((alice, True), (bob, False)):
        response = client_for(user).get(detail(message.pk))
        assert response.status_code == 200
        assert response.json()["content"] == "hi bob"
        assert response.json()["read"] is read


def test_group_participant_can_retrieve(alice, bob, carol):
    message = post_group(alice, group(alice, bob, carol))
    assert client_for(carol).get(detail(message.pk)).status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"content": "hacked"}),
        ("delete", "", None),
        ("post", "read/", None),
        ("get", "history/", None),
        ("get", "thread/", None),
    ],
)
@pytest.mark.parametrize("kind", ["direct", "group"])
def test_stranger_gets_404_and_changes_nothing(alice, bob, carol, method, suffix, body, kind):
    if kind == "direct":
        message = send(alice, bob, "private")
    else:
        message = post_group(alice, group(alice, bob), "private group")
    before = counts()

    response = getattr(client_for(carol), method)(detail(message.pk) + suffix, body, format="json")

    assert response.status_code == 404
    assert "detail" in response.json()
    assert counts() == before
    message.refresh_from_db()
    assert message.content in ("private", "private group")
    # Same answer as for a message that does not exist: nothing is revealed.
    missing = getattr(client_for(carol), method)(detail(10**9) + suffix, body, format="json")
    assert missing.status_code == 404
    assert missing.json() == response.json()


@pytest.mark.parametrize(
    "bad_id", ["abc", "1.5", "-1", "0x10", "1e3", "%20", "99999999999999999999"]
)
def test_non_integer_or_huge_ids_are_404_json(alice, bad_id):
    response = client_for(alice).get(f"/api/messaging/messages/{bad_id}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_sender_edits_message(alice, bob):
    message = send(alice, bob, "first")

    response = client_for(alice).patch(detail(message.pk), {"content": "second"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "second"
    assert body["edited"] is True
    assert body["edited_at"] is not None
    assert body["edited_by"] == alice.pk
    message.refresh_from_db()
    assert (message.content, message.edited, message.edited_by_id) == ("second", True, alice.pk)
    event = OutboxEvent.objects.get(task="message_history_archive")
    assert event.payload["old_content"] == "first"
    assert event.payload["revision"] == 1


def test_edit_ignores_fields_the_client_must_not_set(alice, bob, carol):
    message = send(alice, bob, "first")
    response = client_for(alice).patch(
        detail(message.pk),
        {"content": "second", "sender": carol.pk, "receiver": carol.pk, "edited": False},
        format="json",
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.sender_id, message.receiver_id, message.edited) == (alice.pk, bob.pk, True)


def test_edit_to_the_same_content_changes_nothing(alice, bob):
    message = send(alice, bob, "same")
    response = client_for(alice).patch(detail(message.pk), {"content": "same"}, format="json")
    assert response.status_code == 200
    assert response.json()["edited"] is False
    assert not OutboxEvent.objects.filter(task="message_history_archive").exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"content": ""}, {"content": "   "}, {"content": "x" * 10_001}, {"content": None}],
)
def test_invalid_edit_is_400_and_changes_nothing(alice, bob, body):
    message = send(alice, bob, "original")
    before = counts()
    response = client_for(alice).patch(detail(message.pk), body, format="json")
    assert response.status_code == 400
    assert "content" in response.json()
    assert counts() == before
    message.refresh_from_db()
    assert (message.content, message.edited) == ("original", False)


def test_malformed_json_edit_is_400(alice, bob):
    message = send(alice, bob, "original")
    response = client_for(alice).generic(
        "PATCH", detail(message.pk), b'{"content": ', content_type="application/json"
    )
    assert response.status_code == 400
    message.refresh_from_db()
    assert message.content == "original"


def test_receiver_may_not_edit_or_delete(alice, bob):
    message = send(alice, bob, "original")
    before = counts()
    client = client_for(bob)

    patch = client.patch(detail(message.pk), {"content": "changed by bob"}, format="json")
    delete = client.delete(detail(message.pk))

    assert patch.status_code == 403
    assert delete.status_code == 403
    assert "detail" in patch.json()
    assert counts() == before
    message.refresh_from_db()
    assert (message.content, message.edited) == ("original", False)


def test_other_group_participant_may_not_edit(alice, bob):
    message = post_group(alice, group(alice, bob), "original")
    response = client_for(bob).patch(detail(message.pk), {"content": "mine now"}, format="json")
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.content == "original"


def test_put_is_not_allowed(alice, bob):
    message = send(alice, bob, "original")
    response = client_for(alice).put(detail(message.pk), {"content": "x"}, format="json")
    assert response.status_code == 405
    message.refresh_from_db()
    assert message.content == "original"


def test_sender_deletes_message(alice, bob):
    message = send(alice, bob, "oops")
    reply = send(bob, alice, "what?", parent_message=message)
    services.message_mark_read(message=message, user=bob)

    response = client_for(alice).delete(detail(message.pk))

    assert response.status_code == 204
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not MessageRead.objects.filter(message_id=message.pk).exists()
    reply.refresh_from_db()
    assert reply.parent_message_id is None
    assert client_for(bob).get(detail(message.pk)).status_code == 404


# --- Unread and read ------------------------------------------------------------------------


def test_unread_lists_received_unread_messages(alice, bob, carol):
    first = send(alice, bob, "one")
    second = send(alice, bob, "two")
    send(bob, alice, "bob's own message")
    send(alice, carol, "not bob's")
    conversation = group(alice, bob, carol)
    in_group = post_group(carol, conversation, "group")
    post_group(bob, conversation, "bob's own group post")

    response = client_for(bob).get(UNREAD)

    assert response.status_code == 200
    assert ids(response) == [in_group.pk, second.pk, first.pk]
    assert all(m["read"] is False for m in response.json()["results"])
    assert ids(response) == list(Message.unread.unread_for_user(bob).values_list("pk", flat=True))


def test_unread_manager_loads_only_the_list_fields(bob):
    deferred_fields, defer = Message.unread.unread_for_user(bob).query.deferred_loading
    assert defer is False  # .only(...)
    assert "content" in deferred_fields
    assert "edit_count" not in deferred_fields


def test_read_action_removes_from_unread(alice, bob):
    first = send(alice, bob, "one")
    second = send(alice, bob, "two")
    services.notification_create_for_messages(message_ids=[first.pk, second.pk])

    response = client_for(bob).post(action("read", first.pk))

    assert response.status_code == 200
    assert response.json()["read"] is True
    assert response.json()["id"] == first.pk
    assert MessageRead.objects.filter(message=first, user=bob).exists()
    assert Notification.objects.get(user=bob, message=first).read is True
    assert Notification.objects.get(user=bob, message=second).read is False
    assert ids(client_for(bob).get(UNREAD)) == [second.pk]

    again = client_for(bob).post(action("read", first.pk))  # idempotent
    assert again.status_code == 200
    assert MessageRead.objects.filter(message=first, user=bob).count() == 1


def test_sender_cannot_mark_own_message_read(alice, bob):
    message = send(alice, bob)
    response = client_for(alice).post(action("read", message.pk))
    assert response.status_code == 400
    assert not MessageRead.objects.exists()


def test_group_message_is_unread_per_participant(alice, bob, carol, make_user):
    dave = make_user("dave")
    message = post_group(alice, group(alice, bob, carol, dave), "hello group")

    assert client_for(bob).post(action("read", message.pk)).status_code == 200

    assert ids(client_for(bob).get(UNREAD)) == []
    assert ids(client_for(carol).get(UNREAD)) == [message.pk]
    assert ids(client_for(dave).get(UNREAD)) == [message.pk]
    assert ids(client_for(alice).get(UNREAD)) == []  # her own post
    assert set(MessageRead.objects.values_list("user_id", flat=True)) == {bob.pk}


def test_unread_hides_messages_of_deleted_accounts(alice, bob, make_user):
    gone = make_user("gone")
    send(gone, bob, "from a deleted account")
    kept = send(alice, bob, "kept")
    gone.delete()
    assert ids(client_for(bob).get(UNREAD)) == [kept.pk]


def test_unread_is_paginated(alice, bob):
    for n in range(5):
        send(alice, bob, f"m{n}")
    first = client_for(bob).get(UNREAD, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]


# --- History --------------------------------------------------------------------------------


def _archive_pending_edits(*, reverse_order: bool = False) -> None:
    """Do what the worker does with the edit events, without a worker."""
    events = OutboxEvent.objects.filter(task="message_history_archive").order_by(
        "-created_at" if reverse_order else "created_at"
    )
    services.message_history_archive(edits=[e.payload for e in events])


def test_history_lists_old_versions_in_order(alice, bob):
    message = send(alice, bob, "v1")
    client = client_for(alice)
    for content in ("v2", "v3", "v4"):
        assert client.patch(detail(message.pk), {"content": content}, format="json").status_code
    assert client.get(action("history", message.pk)).json() == []  # not archived yet

    _archive_pending_edits(reverse_order=True)

    for user in (alice, bob):  # whoever can see the message
        response = client_for(user).get(action("history", message.pk))
        assert response.status_code == 200
        rows = response.json()
        assert [(r["revision"], r["old_content"]) for r in rows] == [
            (1, "v1"),
            (2, "v2"),
            (3, "v3"),
        ]
        assert all(r["edited_by"] == alice.pk and r["edited_at"] for r in rows)


def test_history_of_a_group_message_is_visible_to_participants(alice, bob, carol):
    message = post_group(alice, group(alice, bob), "v1")
    services.message_edit(message=message, editor=alice, content="v2")
    _archive_pending_edits()
    assert [
        r["old_content"] for r in client_for(bob).get(action("history", message.pk)).json()
    ] == ["v1"]
    assert client_for(carol).get(action("history", message.pk)).status_code == 404


def test_history_rows_created_directly_are_listed(alice, bob):
    message = send(alice, bob, "now")
    now = timezone.now()
    for revision, old in ((2, "b"), (1, "a")):
        MessageHistory.objects.create(
            message=message, revision=revision, old_content=old, edited_by=alice, edited_at=now
        )
    rows = client_for(bob).get(action("history", message.pk)).json()
    assert [r["old_content"] for r in rows] == ["a", "b"]


# --- Pagination -----------------------------------------------------------------------------


def _bulk_direct(sender, receiver, n: int, *, same_timestamp: bool = False) -> list[int]:
    """n messages, oldest first; returns their ids newest first (the list order)."""
    start = timezone.now() - timedelta(hours=1)
    Message.objects.bulk_create(
        Message(
            sender=sender,
            receiver=receiver,
            content=f"m{i}",
            timestamp=start if same_timestamp else start + timedelta(seconds=i),
        )
        for i in range(n)
    )
    return list(Message.objects.order_by("-timestamp", "-id").values_list("pk", flat=True))


def _follow(client, url: str, params: dict | None = None) -> list[list[int]]:
    pages = []
    response = client.get(url, params or {})
    while True:
        assert response.status_code == 200
        body = response.json()
        pages.append([m["id"] for m in body["results"]])
        if not body["next"]:
            return pages
        response = client.get(body["next"])


def test_cursor_pagination_default_page_size_and_shape(alice, bob):
    expected = _bulk_direct(alice, bob, 25)
    body = client_for(bob).get(LIST).json()
    assert set(body) == {"next", "previous", "results"}
    assert [m["id"] for m in body["results"]] == expected[:20]
    assert body["previous"] is None
    assert "cursor=" in body["next"]


@pytest.mark.parametrize("same_timestamp", [False, True])
def test_following_next_yields_every_message_once_newest_first(alice, bob, same_timestamp):
    expected = _bulk_direct(alice, bob, 23, same_timestamp=same_timestamp)
    pages = _follow(client_for(alice), LIST, {"page_size": 5})
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [pk for page in pages for pk in page] == expected


def test_previous_goes_back(alice, bob):
    _bulk_direct(alice, bob, 12)
    client = client_for(alice)
    first = client.get(LIST, {"page_size": 5}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [m["id"] for m in back["results"]] == [m["id"] for m in first["results"]]


@pytest.mark.parametrize(("asked", "got"), [("1", 1), ("100", 100), ("101", 100), ("100000", 100)])
def test_page_size_is_honoured_and_capped_at_100(alice, bob, asked, got):
    expected = _bulk_direct(alice, bob, 105)
    body = client_for(alice).get(LIST, {"page_size": asked}).json()
    assert [m["id"] for m in body["results"]] == expected[:got]
    assert body["next"]


@pytest.mark.parametrize("asked", ["0", "-5", "abc", ""])
def test_invalid_page_size_falls_back_to_the_default(alice, bob, asked):
    _bulk_direct(alice, bob, 25)
    response = client_for(alice).get(LIST, {"page_size": asked})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 20


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "cD0yMDI1",  # p=2025: well-formed, but the position is no datetime
        "cD0yMDI1LTEzLTQ1VDAwOjAwOjAw",  # p=2025-13-45T00:00:00
        "%00",
        "x" * 500,
        "cD05OTk5LTEyLTMxVDIzOjU5OjU5LTA1OjAw",  # p=9999-12-31T23:59:59-05:00: overflows in UTC
        "cD0wMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAw",  # p=0001-01-01T00:00:00+05:00: the same below
    ],
)
def test_invalid_cursor_is_a_json_4xx(alice, bob, cursor):
    _bulk_direct(alice, bob, 3)
    response = client_for(alice).get(LIST, {"cursor": cursor})
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_new_messages_do_not_shift_the_pages_being_followed(alice, bob):
    expected = _bulk_direct(alice, bob, 10)
    client = client_for(alice)
    first = client.get(LIST, {"page_size": 4}).json()
    send(bob, alice, "arrives while alice pages")
    rest = _follow(client, first["next"])
    seen = [m["id"] for m in first["results"]] + [pk for page in rest for pk in page]
    assert seen == expected
