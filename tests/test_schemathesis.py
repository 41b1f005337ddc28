"""Property-based API tests: Schemathesis drives every operation of our OpenAPI schema.

The schema is loaded from /api/schema/ and every call goes through the WSGI application in this
process, so the calls see the test database. Each operation gets a bounded, derandomized number
of examples (positive and negative), authenticated as a user who has data. The checks: no input
makes the server answer 5xx, every status code is documented, and every body conforms to the
schema of its status code.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chats.services import conversation_create
from messaging import services
from messaging.models import MessageHistory, Notification

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

# Every status code must be documented (messaging_app.errors.document_error_responses adds the
# 4xx answers to the schema), and every body must match the schema of its status code.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DELETE_USER_PATH = "/api/messaging/delete-user/"
PASSWORD_PATH = "/api/auth/password/"
HEALTH_PATH = "/api/health/"
EVENTS_PATH = "/api/events/"  # a stream: served by the ASGI server, a 503 under this WSGI app
TOKEN_PATH = "/api/auth/token/"
STAFF_PREFIX = "/api/tasks/"  # task monitoring is for staff
PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets


@pytest.fixture
def world(make_user, monkeypatch):
    """A user with direct and group messages, a reply, an edit, a read mark and notifications.

    Returns the user and the ids of objects the generated path parameters are mapped onto: the
    user's own objects and other people's (which must be 404, never 5xx).
    """
    # Schemathesis sends many requests to the register and token endpoints: no throttling here.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"register": None, "token": None})
    me, friend, stranger, other = (make_user() for _ in range(4))
    conversation = conversation_create(creator=me, participants=[friend, stranger])
    private = conversation_create(creator=stranger, participants=[other])
    sent = services.message_send(sender=me, receiver=friend, content="hello")
    received = services.message_send(sender=friend, receiver=me, content="hi", parent_message=sent)
    services.message_edit(message=sent, editor=me, content="hello, edited")
    group = services.conversation_message_post(
        sender=friend, conversation=conversation, content="g"
    )
    reply = services.conversation_message_post(
        sender=me, conversation=conversation, content="re", parent_message=group
    )
    hidden = services.message_send(sender=stranger, receiver=other, content="not yours")
    services.conversation_message_post(sender=other, conversation=private, content="secret")
    MessageHistory.objects.create(
        message=sent, revision=1, old_content="hello", edited_by=me, edited_at=sent.timestamp
    )
    services.message_mark_read(message=received, user=me)
    mine = Notification.objects.create(user=me, message=group)
    theirs = Notification.objects.create(user=other, message=hidden)
    ids = {
        "user": [friend.pk, stranger.pk, other.pk, me.pk],
        "message": [sent.pk, received.pk, group.pk, reply.pk, hidden.pk],
        "conversation": [conversation.pk, private.pk],
        "notification": [mine.pk, theirs.pk],
    }
    return me, ids


@pytest.fixture
def in_process_requests():
    """Keep the test's database connection open across in-process requests.

    Django's WSGI handler closes "old" connections when a request starts and finishes; inside
    the test transaction that would close the connection. django.test.Client disconnects the
    same receiver for the same reason.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _pool(path: str, ids: dict[str, list[int]]) -> list[int]:
    if path.startswith("/api/conversations/"):
        return ids["conversation"]
    if path.startswith("/api/messaging/notifications/"):
        return ids["notification"]
    return ids["message"]


def _pick(value: object, pool: list) -> object:
    """Map an even generated integer onto a real id; leave everything else as generated."""
    if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
        return pool[value // 2 % len(pool)]
    return value


def aim_at_real_data(case, me, ids: dict[str, list]) -> None:
    """Point part of the generated ids and credentials at real data.

    Random ids almost never exist, so without this the examples would only meet 404s and 400s.
    Even generated integers become real ids (the caller's own objects and other people's);
    odd ones stay as generated. Only the values change, never the shape of the request.
    """
    path_id = (case.path_parameters or {}).get("id")
    if isinstance(path_id, str) and path_id.isdigit():
        case.path_parameters["id"] = str(_pick(int(path_id), _pool(case.path, ids)))
    body = case.body
    if not isinstance(body, dict):
        return
    if "receiver" in body:
        body["receiver"] = _pick(body["receiver"], ids["user"])
    if "parent_message" in body:
        body["parent_message"] = _pick(body["parent_message"], ids["message"])
    if isinstance(body.get("participants"), list):
        body["participants"] = [_pick(v, ids["user"]) for v in body["participants"]]
    username = body.get("username")
    if case.path == TOKEN_PATH and isinstance(username, str) and len(username) % 2 == 0:
        body["username"], body["password"] = me.username, PASSWORD
    refresh = body.get("refresh")
    if isinstance(refresh, str) and len(refresh) % 2 == 0:
        body["refresh"] = str(RefreshToken.for_user(me))
    for field in ("password", "old_password"):  # the caller's password, asked again
        value = body.get(field)
        if case.path != TOKEN_PATH and isinstance(value, str) and len(value) % 2 == 0:
            body[field] = PASSWORD


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, world, make_user, in_process_requests):
    me, ids = world
    user = me
    if case.path in (DELETE_USER_PATH, PASSWORD_PATH):
        user = make_user()  # each call deletes (or re-keys) a fresh account, not the one with data
    elif case.path.startswith(STAFF_PREFIX):
        user = make_user(is_staff=True)
    aim_at_real_data(case, me, ids)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    if case.path == HEALTH_PATH:
        # 503 is the documented answer of a health check whose dependency is down (here: no
        # worker runs), not a reaction to input; its body must still conform to the schema.
        response = case.call_and_validate(headers=headers, checks=[response_schema_conformance])
        assert response.status_code in (200, 405, 503), response.text
        return
    if case.path == EVENTS_PATH:
        # The stream never ends, so it is tested against a real server (tests/live/); here the
        # WSGI app answers with its documented refusal.
        response = case.call_and_validate(headers=headers, checks=[response_schema_conformance])
        assert response.status_code in (400, 405, 503), response.text
        return
    case.call_and_validate(headers=headers, checks=CHECKS)
