"""NewRow (core/prepared.py): a new instance saved as save() saves it, its values prepared before
the transaction and its INSERT compiled once."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import prepared
from core.prepared import NewRow
from messaging import services
from messaging.models import Message
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_compiled_by_other_tests():
    prepared._local.__dict__.clear()


def _stored(model, pk) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    row.pop(model._meta.pk.attname)
    return row


def test_a_message_is_stored_as_save_stores_it(alice, bob):
    at = timezone.now() - timedelta(minutes=5)
    fields = {"sender": alice, "receiver": bob, "content": "same", "timestamp": at}
    saved = Message.objects.create(**fields)
    message = Message(**fields)
    assert NewRow(message).insert() is message
    assert message.pk is not None and message.pk != saved.pk
    assert not message._state.adding and message._state.db == "default"
    assert _stored(Message, message.pk) == _stored(Message, saved.pk)


def test_an_outbox_event_with_its_uuid_and_json_is_stored_as_save_stores_it():
    fields = {"task": "t", "payload": {"message_id": 7, "text": "é"}, "key": "k"}
    saved = OutboxEvent.objects.create(**fields)
    event = OutboxEvent(**fields, created_at=saved.created_at)
    event.set_first_attempt()
    NewRow(event).insert()
    assert _stored(OutboxEvent, event.pk) == _stored(OutboxEvent, saved.pk)
    assert OutboxEvent.objects.get(pk=event.pk).payload == {"message_id": 7, "text": "é"}


def test_a_primary_key_with_a_default_gets_it_as_save_gives_it():
    event = OutboxEvent(task="t", payload={}, id=None)
    event.set_first_attempt()
    NewRow(event).insert()
    assert event.pk is not None
    assert OutboxEvent.objects.filter(pk=event.pk).exists()


def test_pre_save_is_sent_when_it_is_built_and_post_save_when_it_is_inserted(alice, bob):
    sent = []

    def pre(sender, instance, **kwargs):
        sent.append(("pre", instance.pk, kwargs["raw"], kwargs["update_fields"]))

    def post(sender, instance, created, **kwargs):
        sent.append(("post", instance.pk is not None, created, Message.objects.count()))

    pre_save.connect(pre, sender=Message)
    post_save.connect(post, sender=Message)
    try:
        row = NewRow(Message(sender=alice, receiver=bob, content="x"))
        assert sent == [("pre", None, False, None)]
        row.insert()
    finally:
        pre_save.disconnect(pre, sender=Message)
        post_save.disconnect(post, sender=Message)
    assert sent == [("pre", None, False, None), ("post", True, True, 1)]


def test_the_insert_is_compiled_once_per_model_and_runs_one_query(alice, bob):
    with mock.patch.object(NewRow, "_build", autospec=True, side_effect=NewRow._build) as build:
        for i in range(3):
            row = NewRow(Message(sender=alice, receiver=bob, content=f"m{i}"))
            with CaptureQueriesContext(connection) as queries:
                row.insert()
            # the message's, then its outbox event's (the post_save receiver's, a NewRow too)
            assert [q["sql"].split()[:3] for q in queries] == [
                ["INSERT", "INTO", '"messaging_message"'],
                ["INSERT", "INTO", '"outbox_outboxevent"'],
            ]
    assert [call.args[0].instance._meta.model for call in build.call_args_list] == [
        Message,
        OutboxEvent,
    ]
    assert list(Message.objects.order_by("pk").values_list("content", flat=True)) == [
        "m0",
        "m1",
        "m2",
    ]


def test_expressions_are_refused_and_never_compiled_into_the_kept_insert(alice, bob):
    with pytest.raises(TypeError, match="plain values"):
        NewRow(Message(sender=alice, receiver=bob, content="x", timestamp=Now()))
    at = timezone.now() - timedelta(days=1)
    message = NewRow(Message(sender=alice, receiver=bob, content="y", timestamp=at)).insert()
    assert Message.objects.get().timestamp == at == message.timestamp


@pytest.mark.django_db(transaction=True)
def test_sending_prepares_the_message_before_its_transaction(alice, bob):
    """On SQLite the transaction holds the one write lock: save()'s Python work is done first."""
    in_transaction = []

    def record(sender, instance, **kwargs):
        in_transaction.append((sender.__name__, connection.in_atomic_block))

    pre_save.connect(record, sender=Message)
    post_save.connect(record, sender=Message)
    try:
        services.message_send(sender=alice, receiver=bob, content="hi")
    finally:
        pre_save.disconnect(record, sender=Message)
        post_save.disconnect(record, sender=Message)
    assert in_transaction == [("Message", False), ("Message", True)]
    assert OutboxEvent.objects.filter(payload__message_id=Message.objects.get().pk).exists()
