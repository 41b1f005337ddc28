"""Abuse and bad input: object-level authorization, mass assignment, JWTs, throttling, limits."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.services import user_delete
from chats.models import Conversation
from chats.services import conversation_create
from messaging import services
from messaging.models import Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent
from testkit import ROOT, client_for, worker_env

pytestmark = pytest.mark.django_db

MISSING_ID = 987_654_321


def assert_json(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def snapshot() -> tuple:
    """Everything an endpoint could change, to compare before and after a refused request."""
    return (
        list(Message.objects.order_by("pk").values()),
        list(MessageRead.objects.order_by("pk").values()),
        list(Notification.objects.order_by("pk").values()),
        list(MessageHistory.objects.order_by("pk").values()),
        list(Conversation.objects.order_by("pk").values()),
        list(Conversation.participants.through.objects.order_by("pk").values()),
        list(User.objects.order_by("pk").values()),
        OutboxEvent.objects.count(),
    )


# --- Object-level authorization -------------------------------------------------------------


@pytest.fixture
def objects(alice, bob, carol):
    """A direct message and a conversation between alice and bob, with history and a notification.

    carol is in neither; alice can see the message but not bob's notification of it.
    """
    direct = services.message_send(sender=alice, receiver=bob, content="direct")
    services.message_send(sender=bob, receiver=alice, content="reply", parent_message=direct)
    conversation = conversation_create(creator=alice, participants=[bob])
    group = services.conversation_message_post(
        sender=alice, conversation=conversation, content="group"
    )
    for message in (direct, group):
        MessageHistory.objects.create(
            message=message, revision=1, old_content="v0", edited_by=alice, edited_at=timezone.now()
        )
    notification = Notification.objects.create(user=bob, message=direct)
    return {
        "direct": direct.pk,
        "group": group.pk,
        "conversation": conversation.pk,
        "notification": notification.pk,
    }


# (method, url name, body, which object)
OBJECT_ENDPOINTS = [
    *[
        (method, name, body, kind)
        for kind in ("direct", "group")
        for method, name, body in [
            ("get", "message-detail", None),
            ("patch", "message-detail", {"content": "hijacked"}),
            ("delete", "message-detail", None),
            ("post", "message-read", None),
            ("get", "message-history", None),
            ("get", "message-thread", None),
        ]
    ],
    ("post", "notification-read", None, "notification"),
    ("get", "conversation-detail", None, "conversation"),
    ("get", "conversation-messages", None, "conversation"),
    ("post", "conversation-messages", {"content": "intruder"}, "conversation"),
]


def _call(client: APIClient, method: str, url: str, body):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(
    ("method", "name", "body", "kind"),
    OBJECT_ENDPOINTS,
    ids=[f"{m}-{n}-{k}" for m, n, _, k in OBJECT_ENDPOINTS],
)
def test_outsider_gets_the_same_404_as_for_a_missing_id_and_nothing_changes(
    objects, carol, method, name, body, kind
):
    client = client_for(carol)
    missing = _call(client, method, reverse(name, args=[MISSING_ID]), body)
    before = snapshot()
    response = _call(client, method, reverse(name, args=[objects[kind]]), body)
    assert assert_json(response, 404) == assert_json(missing, 404)
    assert snapshot() == before


def test_someone_elses_notification_is_404_even_if_the_message_is_visible(objects, alice):
    before = snapshot()
    response = client_for(alice).post(reverse("notification-read", args=[objects["notification"]]))
    assert assert_json(response, 404) == {"detail": "No Notification matches the given query."}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "name", "body"),
    [(m, n, b) for m, n, b, k in OBJECT_ENDPOINTS if k == "direct"],
)
def test_message_of_a_deleted_account_is_404_before_the_purge(
    objects, alice, bob, method, name, body
):
    user_delete(user=alice)  # the purge task never runs here: the rows stay
    before = snapshot()
    response = _call(client_for(bob), method, reverse(name, args=[objects["direct"]]), body)
    assert_json(response, 404)
    assert snapshot() == before


@pytest.mark.parametrize(("method", "body"), [("patch", {"content": "not mine"}), ("delete", None)])
@pytest.mark.parametrize("kind", ["direct", "group"])
def test_who_sees_but_may_not_act_gets_403_and_nothing_changes(objects, bob, method, body, kind):
    before = snapshot()
    response = _call(client_for(bob), method, reverse("message-detail", args=[objects[kind]]), body)
    assert "detail" in assert_json(response, 403)
    assert snapshot() == before


# --- Mass assignment ------------------------------------------------------------------------

FORGED_TIME = "2001-01-01T00:00:00Z"


def test_send_ignores_read_only_fields(alice, bob, carol):
    other = conversation_create(creator=carol, participants=[bob])
    parent_elsewhere = services.message_send(sender=carol, receiver=bob, content="x")
    response = client_for(alice).post(
        reverse("message-list"),
        {
            "receiver": bob.pk,
            "content": "hello",
            "id": MISSING_ID,
            "sender": carol.pk,
            "sender_username": "carol",
            "conversation": other.pk,
            "edited": True,
            "edited_at": FORGED_TIME,
            "edited_by": carol.pk,
            "timestamp": FORGED_TIME,
            "read": True,
            "edit_count": 7,
        },
        format="json",
    )
    data = assert_json(response, 201)
    message = Message.objects.get(pk=data["id"])
    assert message.pk != MISSING_ID
    assert (message.sender_id, message.receiver_id, message.conversation_id) == (
        alice.pk,
        bob.pk,
        None,
    )
    assert (message.edited, message.edited_at, message.edited_by_id, message.edit_count) == (
        False,
        None,
        None,
        0,
    )
    assert timezone.now() - message.timestamp < timedelta(minutes=1)
    assert not MessageRead.objects.filter(message=message).exists()  # bob has not read it
    assert parent_elsewhere.replies.count() == 0


def test_edit_changes_only_the_content(alice, bob, carol):
    message = services.message_send(sender=alice, receiver=bob, content="v1")
    other = services.message_send(sender=bob, receiver=alice, content="other")
    conversation = conversation_create(creator=carol, participants=[alice])
    before = Message.objects.filter(pk=message.pk).values().get()
    response = client_for(alice).patch(
        reverse("message-detail", args=[message.pk]),
        {
            "content": "v2",
            "id": MISSING_ID,
            "sender": carol.pk,
            "receiver": carol.pk,
            "conversation": conversation.pk,
            "parent_message": other.pk,
            "timestamp": FORGED_TIME,
            "edited": False,
            "edited_at": FORGED_TIME,
            "edited_by": carol.pk,
            "read": False,
        },
        format="json",
    )
    assert assert_json(response, 200)["content"] == "v2"
    after = Message.objects.filter(pk=message.pk).values().get()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"content", "edited", "edited_at", "edited_by_id", "edit_count"}
    assert (after["edited"], after["edited_by_id"]) == (True, alice.pk)
    assert timezone.now() - after["edited_at"] < timedelta(minutes=1)
    assert not Message.objects.filter(pk=MISSING_ID).exists()


def test_conversation_create_ignores_read_only_fields(alice, bob, carol):
    response = client_for(alice).post(
        reverse("conversation-list"),
        {
            "participants": [bob.pk],
            "id": MISSING_ID,
            "created_by": carol.pk,
            "created_at": FORGED_TIME,
        },
        format="json",
    )
    data = assert_json(response, 201)
    conversation = Conversation.objects.get(pk=data["id"])
    assert conversation.pk != MISSING_ID
    assert conversation.created_by_id == alice.pk
    assert timezone.now() - conversation.created_at < timedelta(minutes=1)
    assert set(conversation.participants.values_list("pk", flat=True)) == {alice.pk, bob.pk}


def test_group_post_ignores_read_only_fields(alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob])
    elsewhere = conversation_create(creator=carol, participants=[alice])
    response = client_for(alice).post(
        reverse("conversation-messages", args=[conversation.pk]),
        {
            "content": "hi",
            "sender": bob.pk,
            "receiver": carol.pk,
            "conversation": elsewhere.pk,
            "timestamp": FORGED_TIME,
            "edited": True,
            "read": False,
        },
        format="json",
    )
    data = assert_json(response, 201)
    message = Message.objects.get(pk=data["id"])
    assert (message.sender_id, message.receiver_id, message.conversation_id) == (
        alice.pk,
        None,
        conversation.pk,
    )
    assert message.edited is False
    assert timezone.now() - message.timestamp < timedelta(minutes=1)
    assert not Message.objects.filter(conversation=elsewhere).exists()


def test_register_cannot_grant_privileges(anon):
    response = anon.post(
        reverse("register"),
        {
            "username": "mallory",
            "password": "a-long-enough-passphrase-42",
            "email": "mallory@example.com",
            "id": MISSING_ID,
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "groups": [1],
        },
        format="json",
    )
    assert assert_json(response, 201)["username"] == "mallory"
    user = User.objects.get(username="mallory")
    assert (user.pk != MISSING_ID, user.is_staff, user.is_superuser, user.is_active) == (
        True,
        False,
        False,
        True,
    )


def test_read_actions_ignore_bodies(objects, alice, bob):
    client = client_for(bob)
    response = client.post(
        reverse("notification-read", args=[objects["notification"]]),
        {"user": alice.pk, "read": False, "message": objects["group"]},
        format="json",
    )
    assert assert_json(response, 200)["read"] is True
    notification = Notification.objects.get(pk=objects["notification"])
    assert (notification.user_id, notification.message_id) == (bob.pk, objects["direct"])
    response = client.post(
        reverse("message-read", args=[objects["direct"]]),
        {"user": alice.pk, "read": False},
        format="json",
    )
    assert assert_json(response, 200)["read"] is True
    assert list(MessageRead.objects.values_list("user_id", "message_id")) == [
        (bob.pk, objects["direct"])
    ]


# --- JWTs -----------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _me_with(header: str):
    return APIClient().get(reverse("me"), HTTP_AUTHORIZATION=header)


def assert_401_json(response) -> dict:
    data = assert_json(response, 401)
    assert data["detail"]
    return data


def test_valid_token_is_accepted(alice):
    """The control: the same request with an intact token succeeds."""
    response = _me_with(f"Bearer {AccessToken.for_user(alice)}")
    assert assert_json(response, 200)["id"] == alice.pk


def test_expired_access_token_is_401(alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_401_json(_me_with(f"Bearer {token}"))


def test_expired_refresh_token_is_401(alice):
    refresh = RefreshToken.for_user(alice)
    refresh.set_exp(lifetime=-timedelta(seconds=1))
    response = APIClient().post(reverse("token-refresh"), {"refresh": str(refresh)}, format="json")
    assert_401_json(response)


def test_tampered_signature_is_401(alice):
    header, payload, signature = str(AccessToken.for_user(alice)).split(".")
    forged = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert_401_json(_me_with(f"Bearer {header}.{payload}.{forged}"))


def test_tampered_payload_is_401(alice, bob):
    """Swapping the user id under the original signature must not log in as bob."""
    header, payload, signature = str(AccessToken.for_user(alice)).split(".")
    claims = _unb64(payload)
    claims["user_id"] = str(bob.pk)
    assert_401_json(_me_with(f"Bearer {header}.{_b64(claims)}.{signature}"))


def test_unsigned_token_is_401(alice):
    token = AccessToken.for_user(alice)
    header = _b64({"alg": "none", "typ": "JWT"})
    assert_401_json(_me_with(f"Bearer {header}.{_b64(token.payload)}."))


def test_token_signed_with_another_key_is_401(alice):
    import jwt

    forged = jwt.encode(dict(AccessToken.for_user(alice).payload), "x" * 64, algorithm="HS256")
    assert_401_json(_me_with(f"Bearer {forged}"))


def test_refresh_token_used_as_access_token_is_401(alice):
    assert_401_json(_me_with(f"Bearer {RefreshToken.for_user(alice)}"))


PASSWORD = "correct-horse-battery-staple"  # what make_user sets


@pytest.mark.parametrize("body", [{}, {"password": ""}, {"password": "wrong"}, {"password": 1}])
def test_account_deletion_asks_for_the_password_again(objects, alice, body):
    """A stolen access token alone cannot delete the account."""
    before = snapshot()
    response = client_for(alice).post(reverse("delete-user"), body, format="json")
    assert "password" in assert_json(response, 400)
    assert snapshot() == before


def test_access_token_of_a_deleted_user_is_401(alice):
    client = client_for(alice)
    assert client.get(reverse("me")).status_code == 200
    response = client.post(reverse("delete-user"), {"password": PASSWORD}, format="json")
    assert response.status_code == 202
    assert_401_json(client.get(reverse("me")))
    assert_401_json(client.get(reverse("message-list")))


def test_refresh_token_of_a_deleted_user_is_401(alice):
    refresh = str(RefreshToken.for_user(alice))
    user_delete(user=alice)
    response = APIClient().post(reverse("token-refresh"), {"refresh": refresh}, format="json")
    assert_401_json(response)


def test_token_of_an_inactive_user_is_401(alice):
    access, refresh = AccessToken.for_user(alice), RefreshToken.for_user(alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert_401_json(_me_with(f"Bearer {access}"))
    response = APIClient().post(reverse("token-refresh"), {"refresh": str(refresh)}, format="json")
    assert_401_json(response)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer one two",
        "Bearer " + "A" * 4096,
        "Bearer \u00e9\u00e8.\u00e0.\u00fc",
        "Basic YWxpY2U6c2VjcmV0",
        "JWT abc",
        "garbage",
    ],
)
def test_garbage_authorization_header_is_401_json(alice, header):
    response = _me_with(header)
    assert_401_json(response)


# --- Throttling -----------------------------------------------------------------------------


@pytest.fixture
def low_rates(monkeypatch):
    """Rates small enough to exceed in a test.

    DRF copies DEFAULT_THROTTLE_RATES into SimpleRateThrottle.THROTTLE_RATES at import, so the
    `settings` fixture would not reach it; monkeypatch restores the class attribute afterwards.
    """
    rates = {"register": "3/hour", "token": "3/hour"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


def test_throttle_rates_come_from_settings():
    configured = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert {"register", "token"} <= set(configured)
    for scope in ("register", "token"):
        assert ScopedRateThrottle.THROTTLE_RATES[scope] == configured[scope]


def _exhaust(client: APIClient, url: str, n: int, **extra) -> list[int]:
    # An empty body is a 400 that touches no table; every request counts against the rate.
    return [client.post(url, {}, format="json", **extra).status_code for _ in range(n)]


@pytest.mark.parametrize("name", ["register", "token", "token-refresh"])
def test_exceeding_the_rate_is_429_json(low_rates, anon, name):
    url = reverse(name)
    assert _exhaust(anon, url, 3) == [400, 400, 400]
    response = anon.post(url, {}, format="json")
    data = assert_json(response, 429)
    assert "throttled" in data["detail"]
    assert int(response["Retry-After"]) > 0


def test_throttles_are_per_scope_and_per_client(low_rates, anon, alice):
    _exhaust(anon, reverse("register"), 3)
    assert anon.post(reverse("register"), {}, format="json").status_code == 429
    # The token scope has its own budget ...
    response = anon.post(
        reverse("token"),
        {"username": "alice", "password": "correct-horse-battery-staple"},
        format="json",
    )
    assert assert_json(response, 200)["access"]
    # ... and another client address has its own.
    other = anon.post(reverse("register"), {}, format="json", REMOTE_ADDR="192.0.2.77")
    assert other.status_code == 400


def test_the_client_address_is_the_peer_unless_proxies_are_configured():
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0


@pytest.mark.parametrize("name", ["register", "token"])
def test_a_new_x_forwarded_for_per_request_does_not_bypass_the_throttle(low_rates, anon, name):
    url = reverse(name)
    statuses = [
        anon.post(url, {}, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


def test_behind_a_proxy_the_address_it_adds_counts(low_rates, anon, settings):
    """With NUM_PROXIES=1 the last X-Forwarded-For entry (the proxy's view) is the client."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    url = reverse("register")
    for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):  # the client forges the start of the header
        response = anon.post(url, {}, format="json", HTTP_X_FORWARDED_FOR=f"{forged}, 198.51.100.7")
        assert response.status_code == 400
    blocked = anon.post(url, {}, format="json", HTTP_X_FORWARDED_FOR="4.4.4.4, 198.51.100.7")
    assert_json(blocked, 429)
    other = anon.post(url, {}, format="json", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other.status_code == 400


# --- Login lockout (django-axes): per account and per address, on every login path ----------

RIGHT = "correct-horse-battery-staple"


def _token(username: str, password: str, address: str = "192.0.2.10", **extra):
    body = {"username": username, "password": password}
    return APIClient().post(reverse("token"), body, format="json", REMOTE_ADDR=address, **extra)


def _cool_off_passes() -> None:
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME)


def test_the_right_password_is_refused_after_the_lockout_until_the_cool_off(alice):
    limit = settings.AXES_FAILURE_LIMIT
    # Wrong guesses from ever new addresses and forwarded headers: the account is what counts.
    statuses = [
        _token("alice", f"guess-{i}", f"192.0.2.{i + 1}", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        for i in range(limit)
    ]
    assert [r.status_code for r in statuses] == [401] * (limit - 1) + [429]
    locked = _token("alice", RIGHT, "198.51.100.99")
    data = assert_json(locked, 429)
    assert "access" not in data and "failed login" in data["detail"]
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    _cool_off_passes()
    assert assert_json(_token("alice", RIGHT, "198.51.100.99"), 200)["access"]


def test_one_address_guessing_many_accounts_is_locked_out(alice, bob):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _token(f"nobody{i}", "guess", "192.0.2.50", HTTP_X_FORWARDED_FOR=f"10.1.0.{i}")
    assert_json(_token("bob", RIGHT, "192.0.2.50"), 429)
    assert_json(_token("bob", RIGHT, "192.0.2.51"), 200)  # bob himself, from elsewhere


def test_guesses_spread_over_spellings_of_a_username_count_together(alice):
    spellings = ["alice", "ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45", "aLiCe"]
    for i in range(settings.AXES_FAILURE_LIMIT):
        _token(spellings[i % len(spellings)], f"guess-{i}", f"192.0.2.{100 + i}")
    assert_json(_token("alice", RIGHT, "198.51.100.42"), 429)


@pytest.mark.parametrize("path", ["/admin/login/", "/api-auth/login/"])
def test_session_logins_are_locked_out_too(make_user, path):
    from django.test import Client

    make_user("root", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="192.0.2.60")
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(path, {"username": "root", "password": f"guess-{i}"})
    response = client.post(path, {"username": "root", "password": RIGHT})
    assert "failed login" in assert_json(response, 429)["detail"]
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    _cool_off_passes()
    assert client.post(path, {"username": "root", "password": RIGHT}).status_code == 302
    assert "_auth_user_id" in client.session


def _redis_url() -> str:
    """The Redis database this suite may use: CACHE_URL's if set, else the broker's."""
    location = settings.CACHES["default"].get("LOCATION", "")
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        return location
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        return settings.CELERY_BROKER_URL
    return "redis://127.0.0.1:6379/14"


_OTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR=sys.argv[1])
print(json.dumps([client.post(sys.argv[2], {}, content_type="application/json").status_code
                  for _ in range(int(sys.argv[3]))]))
"""


def _post_from_another_process(redis_url: str, ip: str, url: str, n: int) -> list[int]:
    env = worker_env(CACHE_URL=redis_url, THROTTLE_REGISTER="3/hour", THROTTLE_TOKEN="3/hour")
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, ip, url, str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["register", "token"])
def test_throttle_history_is_shared_through_the_redis_cache(low_rates, settings, name):
    """With CACHE_URL=redis://..., a second web process sees the first one's requests."""
    redis_url = _redis_url()
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": redis_url,
        }
    }  # the setting_changed signal resets django.core.cache.caches
    ip = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    key = f":1:throttle_{name}_{ip}"
    raw = redis.Redis.from_url(redis_url)
    raw.delete(key)
    try:
        url = reverse(name)
        client = APIClient(REMOTE_ADDR=ip)
        assert _exhaust(client, url, 2) == [400, 400]
        assert raw.exists(key), "the throttle history is not in Redis"
        # Another process, configured only through CACHE_URL, has one request left, then 429.
        assert _post_from_another_process(redis_url, ip, url, 2) == [400, 429]
        assert_json(client.post(url, {}, format="json"), 429)
        # A different client address is not affected.
        assert _post_from_another_process(redis_url, f"{ip}1", url, 1) == [400]
    finally:
        raw.delete(key, f":1:throttle_{name}_{ip}1")


# --- Sending limits -------------------------------------------------------------------------


@pytest.fixture
def send_rates(settings):
    """Small per-user rates; the throttles read them from the settings at each request."""
    rates = {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "message_send": "3/minute",
        "message_send_day": "5/day",
        "conversation_create": "2/hour",
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return rates


def test_sending_has_per_user_limits_by_default():
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for scope in ("message_send", "message_send_day", "conversation_create"):
        assert rates[scope], scope


def _send(client, kind: str, bob, conversation):
    if kind == "direct":
        body = {"receiver": bob.pk, "content": "hi"}
        return client.post(reverse("message-list"), body, format="json")
    url = reverse("conversation-messages", args=[conversation.pk])
    return client.post(url, {"content": "hi all"}, format="json")


def test_direct_and_group_messages_share_one_sending_rate(send_rates, alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    client = client_for(alice)
    statuses = [_send(client, kind, bob, conversation).status_code for kind in "ddg"]
    assert statuses == [201, 201, 201]
    before = snapshot()
    for kind in ("direct", "group"):
        refused = _send(client, kind, bob, conversation)
        assert "throttled" in assert_json(refused, 429)["detail"]
        assert 0 < int(refused["Retry-After"]) <= 60
        assert refused["RateLimit"].startswith('"message_send";r=0;t=')
    assert snapshot() == before
    # Reading is not sending, and the limit is alice's alone.
    assert client.get(reverse("message-list")).status_code == 200
    assert _send(client_for(bob), "direct", alice, conversation).status_code == 201


def test_answers_carry_the_ietf_ratelimit_headers(send_rates, alice, bob):
    response = _send(client_for(alice), "direct", bob, None)
    assert response.status_code == 201
    assert response["RateLimit-Policy"] == (
        '"message_send";q=3;w=60, "message_send_day";q=5;w=86400'
    )
    burst, day = response["RateLimit"].split(", ")
    assert burst.startswith('"message_send";r=2;t=') and 0 < int(burst.split("t=")[1]) <= 60
    assert day.startswith('"message_send_day";r=4;t=')


def test_the_daily_sending_limit_holds_across_bursts(send_rates, settings, alice, bob):
    send_rates["message_send"] = "100/minute"
    client = client_for(alice)
    statuses = [_send(client, "direct", bob, None).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429]


def test_creating_conversations_has_a_per_user_limit(send_rates, alice, bob, carol):
    client = client_for(alice)
    url = reverse("conversation-list")
    statuses = [
        client.post(url, {"participants": [bob.pk, carol.pk]}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    assert Conversation.objects.count() == 2
    assert client.get(url).status_code == 200
    assert client_for(bob).post(url, {"participants": [carol.pk]}, format="json").status_code == 201


# --- Size limits ----------------------------------------------------------------------------


def test_body_over_the_limit_is_413_json_and_nothing_is_created(alice, bob):
    before = snapshot()
    body = {"receiver": bob.pk, "content": "x" * (settings.REQUEST_MAX_BODY_BYTES + 1)}
    response = client_for(alice).post(reverse("message-list"), body, format="json")
    assert "too large" in assert_json(response, 413)["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("post", "message-list", []),
        ("patch", "message-detail", [1]),
        ("post", "conversation-list", []),
        ("post", "conversation-messages", [1]),
        ("post", "register", []),
        ("post", "token", []),
    ],
)
@pytest.mark.parametrize("authenticated", [True, False])
def test_every_write_endpoint_refuses_oversized_bodies(
    settings, alice, method, name, args, authenticated
):
    settings.REQUEST_MAX_BODY_BYTES = 200
    client = client_for(alice if authenticated else None)
    before = snapshot()
    response = getattr(client, method)(
        reverse(name, args=args), {"content": "y" * 300}, format="json"
    )
    assert_json(response, 413)
    assert snapshot() == before


def test_body_at_the_limit_passes_the_size_check(settings, alice, bob):
    settings.REQUEST_MAX_BODY_BYTES = 200
    body = json.dumps({"receiver": bob.pk, "content": ""})
    body = json.dumps({"receiver": bob.pk, "content": "z" * (200 - len(body))})
    assert len(body) == 200
    response = client_for(alice).generic(
        "POST", reverse("message-list"), body, content_type="application/json"
    )
    assert_json(response, 201)


@pytest.mark.parametrize("length", ["abc", "-1", "1e9"])
def test_invalid_content_length_is_400_json(alice, bob, length):
    before = snapshot()
    response = client_for(alice).generic(
        "POST",
        reverse("message-list"),
        json.dumps({"receiver": bob.pk, "content": "hi"}),
        content_type="application/json",
        CONTENT_LENGTH=length,
    )
    assert assert_json(response, 400) == {"detail": "Invalid Content-Length header."}
    assert snapshot() == before


@pytest.fixture
def many(alice, bob):
    """101 of everything a list shows, for bob."""
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(sender=alice, receiver=bob, content=f"m{i}", timestamp=now - timedelta(seconds=i))
        for i in range(101)
    )
    Notification.objects.bulk_create(Notification(user=bob, message=m) for m in messages)
    conversations = Conversation.objects.bulk_create(
        Conversation(created_by=alice) for _ in range(101)
    )
    through = Conversation.participants.through
    through.objects.bulk_create(
        through(conversation=c, user=u) for c in conversations for u in (alice, bob)
    )
    group = conversations[0]
    Message.objects.bulk_create(
        Message(sender=alice, conversation=group, content=f"g{i}") for i in range(101)
    )
    return group


LISTS = [
    ("message-list", []),
    ("message-unread", []),
    ("notification-list", []),
    ("conversation-list", []),
    ("conversation-messages", ["group"]),
]


@pytest.mark.parametrize(("name", "args"), LISTS, ids=[n for n, _ in LISTS])
@pytest.mark.parametrize(
    ("page_size", "expected"),
    [("1000", 100), ("100", 100), ("7", 7), ("0", 20), ("-5", 20), ("x", 20)],
)
def test_page_size_is_capped_at_100(many, bob, name, args, page_size, expected):
    url = reverse(name, args=[many.pk if a == "group" else a for a in args])
    data = assert_json(client_for(bob).get(url, {"page_size": page_size}), 200)
    assert len(data["results"]) == expected
    assert data["next"]


def _count_nodes(node: dict) -> int:
    return 1 + sum(_count_nodes(child) for child in node["replies"])


@pytest.mark.parametrize(("limit", "truncated"), [(5, "true"), (12, "false")])
def test_thread_is_cut_at_the_limit(settings, alice, bob, limit, truncated):
    settings.THREAD_MAX_MESSAGES = limit
    root = services.message_send(sender=alice, receiver=bob, content="root")
    parent = root
    for i in range(11):  # a chain of replies, 12 messages in all
        parent = services.message_send(
            sender=(bob, alice)[i % 2],
            receiver=(alice, bob)[i % 2],
            content=f"r{i}",
            parent_message=parent,
        )
    response = client_for(bob).get(reverse("message-thread", args=[root.pk]))
    data = assert_json(response, 200)
    assert response["X-Thread-Truncated"] == truncated
    assert _count_nodes(data) == min(limit, 12)


# --- Shared caches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("me", []),
        ("notification-list", []),
        ("conversation-list", []),
        ("conversation-detail", ["conversation"]),
        ("message-unread", []),
        ("message-list", []),
        ("message-detail", ["direct"]),
        ("message-history", ["direct"]),
    ],
)
def test_answers_for_a_user_are_never_stored_by_a_shared_cache(objects, bob, name, args):
    response = client_for(bob).get(reverse(name, args=[objects[a] for a in args]))
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Authorization", "Cookie"} <= vary


def test_errors_under_the_api_are_private_too(alice):
    response = client_for(alice).get(reverse("message-detail", args=[MISSING_ID]))
    assert response.status_code == 404
    assert "private" in response["Cache-Control"]


# --- Unknown URLs and server errors ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope/",
        "/api/",
        "/api/messaging/messages/abc/",
        "/api/messaging/messages/1/nope/",
        "/api/conversations/1/members/",
        "/nope/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_urls_are_json_404_with_debug_off(settings, alice, path, method):
    settings.DEBUG = False
    response = getattr(client_for(alice), method)(path)
    assert assert_json(response, 404) == {"detail": "Not found."}


def test_unknown_url_is_json_404_for_anonymous_callers(settings, anon):
    settings.DEBUG = False
    assert assert_json(anon.get("/api/does-not-exist/"), 404) == {"detail": "Not found."}


def test_unexpected_error_is_json_500(settings, alice, monkeypatch):
    settings.DEBUG = False

    def boom(self):
        raise RuntimeError("boom")

    monkeypatch.setattr("accounts.views.MeView.get_object", boom)
    client = client_for(alice)
    client.raise_request_exception = False
    assert assert_json(client.get(reverse("me")), 500) == {"detail": "Internal server error."}


# --- Bodies that cannot be parsed -----------------------------------------------------------

# 30,000 levels of nesting: within the body limit, far beyond Python's recursion limit.
DEEP_JSON = "[" * 30_000 + "]" * 30_000


@pytest.mark.parametrize(
    ("method", "name", "args", "authenticated"),
    [
        ("post", "token", [], False),
        ("post", "token-refresh", [], False),
        ("post", "register", [], False),
        ("post", "message-list", [], True),
        ("patch", "message-detail", ["direct"], True),
        ("post", "conversation-list", [], True),
        ("post", "conversation-messages", ["conversation"], True),
    ],
)
def test_deeply_nested_json_is_400_json_and_changes_nothing(
    settings, objects, alice, method, name, args, authenticated
):
    settings.DEBUG = False
    client = client_for(alice if authenticated else None)
    client.raise_request_exception = False
    url = reverse(name, args=[objects[a] for a in args])
    before = snapshot()
    response = client.generic(method.upper(), url, DEEP_JSON, content_type="application/json")
    assert "JSON" in assert_json(response, 400)["detail"]
    assert snapshot() == before


def test_deeply_nested_json_in_an_admin_form_is_400(settings, make_user):
    """Django-level parsing (django-celery-beat's admin form reads `kwargs` as JSON)."""
    from django.test import Client
    from django_celery_beat.models import PeriodicTask

    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    form = {"name": "deep", "task": "outbox_relay", "args": "[]", "kwargs": DEEP_JSON}
    response = client.post("/admin/django_celery_beat/periodictask/add/", form)
    assert assert_json(response, 400)["detail"]
    assert not PeriodicTask.objects.filter(name="deep").exists()
