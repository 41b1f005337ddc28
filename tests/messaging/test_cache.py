"""The cached message lists: private per user, read-your-writes, cheap hits, 60-second expiry.

Every test runs twice: on LocMemCache (the default) and on Django's Redis cache.
"""

from __future__ import annotations

import types
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chats.models import Conversation
from messaging import services
from messaging.models import Message
from testkit import clear_cache, client_for, redis_cache_settings

PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets

# Invalidation happens after commit, as in production: the tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["locmem", "redis"], autouse=True)
def cache_backend(request, settings):
    if request.param == "redis":
        settings.CACHES = redis_cache_settings()
    clear_cache()
    yield request.param
    clear_cache()


MESSAGES = reverse("message-list")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["results"]]


@pytest.fixture
def chat(alice, bob, carol):
    """alice <-> bob direct messages, and carol <-> bob ones alice must never see."""
    services.message_send(sender=alice, receiver=bob, content="a1")
    services.message_send(sender=bob, receiver=alice, content="b1")
    services.message_send(sender=carol, receiver=bob, content="c1")


def test_hit_is_served_only_to_the_same_user(chat, alice, bob, carol):
    a, b = client_for(alice), client_for(bob)
    first = a.get(MESSAGES)
    assert first["X-Cache"] == "MISS"
    assert a.get(MESSAGES)["X-Cache"] == "HIT"
    bobs = b.get(MESSAGES)
    assert bobs["X-Cache"] == "MISS"
    assert set(ids(bobs)) == set(
        Message.objects.filter(receiver=bob).values_list("pk", flat=True)
    ) | set(Message.objects.filter(sender=bob).values_list("pk", flat=True))
    assert len(ids(bobs)) == 3 and len(ids(first)) == 2
    carol_message = Message.objects.get(sender=carol).pk
    assert carol_message not in ids(a.get(MESSAGES))


def test_anonymous_request_gets_401_never_a_cached_list(chat, alice, anon):
    assert client_for(alice).get(MESSAGES).status_code == 200
    response = anon.get(MESSAGES)
    assert response.status_code == 401
    assert "results" not in response.json()


def test_responses_are_private(chat, alice):
    client = client_for(alice)
    for _ in range(2):  # the miss and the hit
        response = client.get(MESSAGES)
        assert "private" in response["Cache-Control"]
        assert "Authorization" in response["Vary"]


def test_query_string_is_part_of_the_key(chat, alice):
    client = client_for(alice)
    assert len(ids(client.get(MESSAGES, {"page_size": 1}))) == 1
    assert len(ids(client.get(MESSAGES, {"page_size": 2}))) == 2
    assert client.get(MESSAGES, {"page_size": 1})["X-Cache"] == "HIT"


def stored_entries() -> dict[str, int]:
    """Every stored list response: its cache key and its size in bytes."""
    backend = cache._cache if hasattr(cache, "_cache") else None
    if isinstance(backend, dict):  # LocMemCache: key -> pickled value
        return {k: len(v) for k, v in backend.items() if ":resp:" in k}
    client = cache._cache.get_client(write=False)  # RedisCache
    pattern = cache.make_key("msglist:resp:") + "*"
    return {k.decode(): client.strlen(k) for k in client.scan_iter(match=pattern)}


def test_parameters_that_do_not_change_the_response_share_one_entry(chat, alice):
    client = client_for(alice)
    assert client.get(f"{MESSAGES}?page_size=2")["X-Cache"] == "MISS"
    for i in range(50):  # what an attacker does to make a new entry per request
        response = client.get(f"{MESSAGES}?junk={i}&page_size=2&other{i}=x")
        assert response["X-Cache"] == "HIT"
        assert len(ids(response)) == 2
    assert len(stored_entries()) == 1


def test_the_key_is_the_effective_page_size_and_the_cursor(chat, alice):
    client = client_for(alice)
    first = client.get(MESSAGES, {"page_size": "1"})
    assert first["X-Cache"] == "MISS"
    # page_size=abc and no page_size both mean the default size: one entry.
    assert client.get(MESSAGES)["X-Cache"] == "MISS"
    assert client.get(MESSAGES, {"page_size": "abc"})["X-Cache"] == "HIT"
    # A cursor is a different page: its own entry, and the same one whatever the order.
    cursor = first.json()["next"].split("cursor=")[1].split("&")[0]
    assert client.get(f"{MESSAGES}?cursor={cursor}&page_size=1")["X-Cache"] == "MISS"
    assert client.get(f"{MESSAGES}?page_size=1&x=1&cursor={cursor}")["X-Cache"] == "HIT"
    assert len(stored_entries()) == 3


def test_huge_pages_are_served_but_never_stored(alice, bob, settings):
    """The attack of issue 11: big messages, then many list requests with junk parameters."""
    now = timezone.now()
    Message.objects.bulk_create(
        Message(
            sender=bob, receiver=alice, content="\x01" * 2_000, timestamp=now - timedelta(seconds=i)
        )
        for i in range(100)
    )
    client = client_for(alice)
    for i in range(30):
        response = client.get(MESSAGES, {"page_size": 100, "junk": i})
        assert len(ids(response)) == 100
        assert len(response.content) > settings.LIST_CACHE_MAX_ENTRY_BYTES
    assert stored_entries() == {}


def test_every_stored_entry_is_under_the_cap(chat, alice, settings):
    client = client_for(alice)
    one = client.get(MESSAGES, {"page_size": 1})
    settings.LIST_CACHE_MAX_ENTRY_BYTES = len(one.content)  # room for one message, not for two
    assert client.get(MESSAGES, {"page_size": 1})["X-Cache"] == "HIT"
    assert client.get(MESSAGES, {"page_size": 2})["X-Cache"] == "MISS"
    again = client.get(MESSAGES, {"page_size": 2})
    assert again["X-Cache"] == "MISS"  # served, and uncached
    assert len(ids(again)) == 2
    sizes = stored_entries()
    assert len(sizes) == 1
    # The stored value is the body plus the version tokens it was made under.
    assert max(sizes.values()) <= settings.LIST_CACHE_MAX_ENTRY_BYTES + 200


def test_sender_and_receiver_see_a_new_message_at_once(chat, alice, bob):
    a, b = client_for(alice), client_for(bob)
    a.get(MESSAGES), b.get(MESSAGES)
    new_id = a.post(MESSAGES, {"receiver": bob.pk, "content": "new"}, format="json").json()["id"]
    assert ids(a.get(MESSAGES))[0] == new_id
    assert ids(b.get(MESSAGES))[0] == new_id


def test_an_unrelated_users_cache_survives_a_write(chat, alice, bob, carol):
    c = client_for(carol)
    c.get(MESSAGES)
    client_for(alice).post(MESSAGES, {"receiver": bob.pk, "content": "x"}, format="json")
    assert c.get(MESSAGES)["X-Cache"] == "HIT"  # precise invalidation, not a cache flush


def test_edit_and_delete_show_at_once(chat, alice, bob):
    a, b = client_for(alice), client_for(bob)
    mine = Message.objects.get(sender=alice)
    a.get(MESSAGES), b.get(MESSAGES)
    url = reverse("message-detail", args=[mine.pk])
    assert a.patch(url, {"content": "edited"}, format="json").status_code == 200
    for client in (a, b):
        row = next(m for m in client.get(MESSAGES).json()["results"] if m["id"] == mine.pk)
        assert row["content"] == "edited" and row["edited"] is True
    assert a.delete(url).status_code == 204
    assert mine.pk not in ids(a.get(MESSAGES))
    assert mine.pk not in ids(b.get(MESSAGES))


def test_read_shows_at_once(chat, alice, bob):
    b = client_for(bob)
    received = Message.objects.get(sender=alice)

    def read_flag() -> bool:
        return next(m for m in b.get(MESSAGES).json()["results"] if m["id"] == received.pk)["read"]

    assert read_flag() is False
    assert b.post(reverse("message-read", args=[received.pk])).status_code == 200
    assert read_flag() is True


def test_conversation_list_is_cached_and_fresh(alice, bob, carol):
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob)
    url = reverse("conversation-messages", args=[conversation.pk])
    a, b, c = client_for(alice), client_for(bob), client_for(carol)
    assert a.get(url)["X-Cache"] == "MISS"
    assert a.get(url)["X-Cache"] == "HIT"
    assert c.get(url).status_code == 404  # never served from alice's entry
    posted = b.post(url, {"content": "hello"}, format="json").json()["id"]
    assert ids(a.get(url)) == [posted]
    assert ids(a.get(MESSAGES)) == [posted]  # the group message reaches alice's list too


def test_account_deletion_hides_its_messages_from_cached_lists(chat, alice, bob):
    a = client_for(alice)
    assert len(ids(a.get(MESSAGES))) == 2
    deleted = client_for(bob).post(reverse("delete-user"), {"password": PASSWORD}, format="json")
    assert deleted.status_code == 202
    assert ids(a.get(MESSAGES)) == []  # before any purge has run


def test_hit_runs_only_the_authentication_query(chat, alice, django_assert_num_queries):
    client = client_for(alice)
    client.get(MESSAGES)
    with django_assert_num_queries(1):  # the JWT's user lookup
        assert client.get(MESSAGES)["X-Cache"] == "HIT"


def test_conversation_hit_runs_only_the_authentication_query(alice, bob, django_assert_num_queries):
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob)
    services.conversation_message_post(sender=bob, conversation=conversation, content="x")
    url = reverse("conversation-messages", args=[conversation.pk])
    client = client_for(alice)
    client.get(url)
    with django_assert_num_queries(1):
        assert client.get(url)["X-Cache"] == "HIT"


def test_entries_expire_after_the_timeout(chat, alice, cache_backend, monkeypatch, settings):
    client = client_for(alice)
    if cache_backend == "locmem":
        now = [1_000_000.0]
        clock = types.SimpleNamespace(time=lambda: now[0])
        monkeypatch.setattr("django.core.cache.backends.locmem.time", clock)
        monkeypatch.setattr("django.core.cache.backends.base.time", clock)
        client.get(MESSAGES)
        now[0] += 59
        assert client.get(MESSAGES)["X-Cache"] == "HIT"
        now[0] += 2
        assert client.get(MESSAGES)["X-Cache"] == "MISS"
    else:
        import time

        settings.MESSAGE_LIST_CACHE_TIMEOUT = 1  # Redis keeps its own clock
        client.get(MESSAGES)
        assert client.get(MESSAGES)["X-Cache"] == "HIT"
        time.sleep(1.2)
        assert client.get(MESSAGES)["X-Cache"] == "MISS"


def test_default_timeout_is_sixty_seconds():
    from django.conf import settings

    assert settings.MESSAGE_LIST_CACHE_TIMEOUT == 60


def test_the_purge_in_the_worker_invalidates_shared_lists(chat, alice, bob, carol):
    """The purge runs in the worker; with a shared cache its invalidation reaches the web."""
    from messaging.services import user_data_purge

    to_bob = services.message_send(sender=alice, receiver=bob, content="purged with bob")
    c = client_for(carol)
    c.get(MESSAGES)
    before = cache.get("msglist:epoch")
    bob_id = bob.pk
    bob.delete()
    after_delete = cache.get("msglist:epoch")
    assert after_delete != before
    user_data_purge(user_id=bob_id)
    assert cache.get("msglist:epoch") != after_delete
    assert c.get(MESSAGES)["X-Cache"] == "MISS"
    assert not Message.objects.filter(pk=to_bob.pk).exists()


def test_membership_changes_from_the_admin_show_at_once(alice, bob, carol):
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob)
    services.conversation_message_post(sender=bob, conversation=conversation, content="hi")
    url = reverse("conversation-messages", args=[conversation.pk])
    a = client_for(alice)
    assert a.get(url).status_code == 200
    assert len(ids(a.get(MESSAGES))) == 1
    conversation.participants.remove(alice)  # as the admin would
    assert a.get(url).status_code == 404
    assert ids(a.get(MESSAGES)) == []
    carol_client = client_for(carol)
    carol_client.get(MESSAGES)
    conversation.participants.add(carol)
    assert len(ids(carol_client.get(MESSAGES))) == 1


# --- Unread and notifications ----------------------------------------------------------------

UNREAD = reverse("message-unread")
NOTIFICATIONS = reverse("notification-list")


def test_unread_is_cached_and_every_change_of_it_shows_at_once(chat, alice, bob):
    b = client_for(bob)
    assert b.get(UNREAD)["X-Cache"] == "MISS"
    first = b.get(UNREAD)
    assert first["X-Cache"] == "HIT"
    unread = ids(first)
    assert len(unread) == 2  # from alice and from carol
    new = client_for(alice).post(MESSAGES, {"receiver": bob.pk, "content": "new"}, format="json")
    assert ids(b.get(UNREAD)) == [new.json()["id"], *unread]  # a message reached bob
    assert b.post(reverse("message-read", args=[unread[0]])).status_code == 200
    after = b.get(UNREAD)
    assert after["X-Cache"] == "MISS"
    assert ids(after) == [new.json()["id"], unread[1]]  # bob read one, on another device
    client_for(alice).patch(
        reverse("message-detail", args=[new.json()["id"]]), {"content": "edited"}, format="json"
    )
    assert b.get(UNREAD).json()["results"][0]["content"] == "edited"


def test_notifications_are_cached_only_where_the_workers_writes_can_reach(
    chat, alice, bob, cache_backend
):
    """The worker creates notifications in another process: its invalidation reaches a shared
    cache only. With a cache of each process's own, the list is served fresh every time."""
    b = client_for(bob)
    message = Message.objects.filter(receiver=bob).first()
    b.get(NOTIFICATIONS)
    cached = b.get(NOTIFICATIONS)
    assert cached["X-Cache"] == ("HIT" if cache_backend == "redis" else "BYPASS")
    assert cached.json()["results"] == []
    # What the worker does, in its own transaction: the rows, and the version it replaces.
    services.notification_create_for_messages(message_ids=[message.pk])
    fresh = b.get(NOTIFICATIONS)
    assert fresh["X-Cache"] == ("MISS" if cache_backend == "redis" else "BYPASS")
    assert [n["message"]["id"] for n in fresh.json()["results"]] == [message.pk]
    # Marking it read is a web write: it shows at once too.
    notification_id = fresh.json()["results"][0]["id"]
    b.post(reverse("notification-read", args=[notification_id]))
    assert b.get(NOTIFICATIONS).json()["results"][0]["read"] is True


@pytest.mark.worker
@pytest.mark.parametrize("cache_backend", ["redis"], indirect=True)  # LocMem: the BYPASS test
def test_the_workers_notifications_reach_a_shared_cache_at_once(alice, bob, cache_backend):
    """A real worker process creates the notification and replaces bob's version in Redis:
    bob's next list shows it, though the list was cached a moment before."""
    from testkit import WorkerProcess, wait_until

    worker = WorkerProcess().wait_ready()
    try:
        b = client_for(bob)
        b.get(NOTIFICATIONS)
        assert b.get(NOTIFICATIONS)["X-Cache"] == "HIT"
        sent = client_for(alice).post(
            MESSAGES, {"receiver": bob.pk, "content": "hi"}, format="json"
        )

        def listed():
            results = b.get(NOTIFICATIONS).json()["results"]
            return [n["message"]["id"] for n in results]

        assert wait_until(listed, timeout=20) == [sent.json()["id"]]
    finally:
        worker.stop()
