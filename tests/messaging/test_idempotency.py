"""Idempotency-Key on the message POST endpoints (in-process API calls; the concurrent and
lost-answer cases run against real server processes in tests/live/test_faults.py)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chats.services import conversation_create
from messaging import services
from messaging.models import IdempotencyRecord, Message
from outbox.models import OutboxEvent
from testkit import client_for

pytestmark = pytest.mark.django_db


def post(client, body, key=None, path=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path or reverse("message-list"), body, format="json", **headers)


def test_a_retry_gets_the_first_answer_and_sends_nothing_again(alice, bob):
    client = client_for(alice)
    first = post(client, {"receiver": bob.pk, "content": "once"}, key="k-1")
    again = post(client, {"receiver": bob.pk, "content": "once"}, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    assert OutboxEvent.objects.filter(task=services.NOTIFY_TASK).count() == 1


def test_the_same_key_with_another_request_is_a_422(alice, bob, carol):
    client = client_for(alice)
    assert post(client, {"receiver": bob.pk, "content": "a"}, key="k").status_code == 201
    assert post(client, {"receiver": bob.pk, "content": "b"}, key="k").status_code == 422
    conversation = conversation_create(creator=alice, participants=[carol])
    path = reverse("conversation-messages", args=[conversation.pk])
    assert post(client, {"content": "a"}, key="k", path=path).status_code == 422
    assert Message.objects.count() == 1


def test_keys_belong_to_their_user(alice, bob):
    post(client_for(alice), {"receiver": bob.pk, "content": "a"}, key="shared")
    assert (
        post(client_for(bob), {"receiver": alice.pk, "content": "a"}, key="shared").status_code
        == 201
    )
    assert Message.objects.count() == 2


def test_conversation_posts_are_idempotent_too(alice, bob):
    conversation = conversation_create(creator=alice, participants=[bob])
    path = reverse("conversation-messages", args=[conversation.pk])
    client = client_for(alice)
    answers = [post(client, {"content": "hi"}, key="g", path=path) for _ in range(3)]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_a_refused_request_is_not_remembered(alice, bob):
    client = client_for(alice)
    assert post(client, {"receiver": bob.pk, "content": ""}, key="fix").status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert post(client, {"receiver": bob.pk, "content": "fixed"}, key="fix").status_code == 201


def test_without_a_key_every_post_sends(alice, bob):
    client = client_for(alice)
    for _ in range(2):
        assert post(client, {"receiver": bob.pk, "content": "x"}).status_code == 201
    assert Message.objects.count() == 2 and not IdempotencyRecord.objects.exists()


def test_a_key_longer_than_255_characters_is_refused(alice, bob):
    response = post(client_for(alice), {"receiver": bob.pk, "content": "x"}, key="k" * 256)
    assert response.status_code == 400 and not Message.objects.exists()


def test_after_24_hours_a_key_sends_again_and_beat_prunes_old_answers(alice, bob):
    client = client_for(alice)
    post(client, {"receiver": bob.pk, "content": "x"}, key="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert post(client, {"receiver": bob.pk, "content": "x"}, key="old").status_code == 201
    assert Message.objects.count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert services.idempotency_prune() == 1
