"""The event bodies built without DRF (messaging/shapes.py) equal the REST serializers' output."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.selectors import conversation_list_for_user
from chats.serializers import ConversationSerializer
from chats.services import conversation_create
from messaging import selectors, services, shapes
from messaging.models import Notification
from messaging.serializers import MessageSerializer, NotificationSerializer

pytestmark = pytest.mark.django_db


def test_message_body_equals_the_serializer_for_each_reader(alice, bob):
    parent = services.message_send(sender=alice, receiver=bob, content="first")
    reply = services.message_send(sender=bob, receiver=alice, content="re", parent_message=parent)
    services.message_edit(message=reply, editor=bob, content="re, edited")
    services.message_mark_read(message=reply, user=alice)
    for reader in (alice, bob):
        for pk in (parent.pk, reply.pk):
            message = selectors.message_get_for_user(user=reader, pk=pk)
            expected = MessageSerializer(message).data
            assert shapes.message_body(message, read=message.viewer_read) == expected


def test_group_message_body_equals_the_serializer(alice, bob, carol):
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    posted = services.conversation_message_post(
        sender=alice, conversation=conversation, content="all"
    )
    message = selectors.message_get_for_user(user=carol, pk=posted.pk)
    names = {alice.pk: "alice"}
    assert shapes.message_body(message, read=False, usernames=names) == dict(
        MessageSerializer(message).data
    )


def test_notification_body_equals_the_serializer(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hi")
    services.notification_create_for_messages(message_ids=[message.pk])
    notification = Notification.objects.get()
    services.notification_mark_read(notification=notification)
    notification = selectors.notifications_for_user(user=bob).get()
    row = Notification.objects.values(
        "id", "user_id", "message_id", "created_at", "read", "read_at"
    ).get()
    body = shapes.message_body(selectors.message_get_for_user(user=bob, pk=message.pk), read=True)
    assert shapes.notification_body(row, body) == NotificationSerializer(notification).data


def test_conversation_body_equals_the_serializer(alice, bob, carol):
    conversation = conversation_create(creator=bob, participants=[carol, alice])
    shown = conversation_list_for_user(user=alice).get(pk=conversation.pk)
    members = [(u.pk, u.username) for u in (carol, alice, bob)]
    assert shapes.conversation_body(shown, members) == ConversationSerializer(shown).data


def test_datetimes_render_like_drf_in_utc_and_with_microseconds():
    moment = timezone.now().replace(microsecond=123456) - timedelta(days=1)
    assert shapes.iso(moment).endswith(".123456Z")
    assert shapes.iso(None) is None


def test_list_rows_equal_the_serializer_for_each_reader(alice, bob, carol):
    """The lists shape `.values()` rows without DRF; each equals the serializer's output."""
    parent = services.message_send(sender=alice, receiver=bob, content="first")
    reply = services.message_send(sender=bob, receiver=alice, content="re", parent_message=parent)
    services.message_edit(message=reply, editor=bob, content="re, edited")
    services.message_mark_read(message=reply, user=alice)
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    services.conversation_message_post(sender=carol, conversation=conversation, content="all")
    for reader in (alice, bob, carol):
        rows = list(selectors.message_rows_for_user(user=reader))
        messages = {m.pk: m for m in selectors.message_list_for_user(user=reader)}
        assert rows and len(rows) == len(messages)
        for row in rows:
            expected = MessageSerializer(messages[row["id"]]).data
            assert shapes.message_row_body(row) == expected


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_a_page_of_rows_renders_in_the_current_zone_like_the_serializer(alice, bob, zone):
    reply = services.message_send(sender=bob, receiver=alice, content="re")
    services.message_edit(message=reply, editor=bob, content="re, edited")
    with timezone.override(zone):
        bodies = shapes.message_row_bodies(selectors.message_rows_for_user(user=alice))
        expected = MessageSerializer(selectors.message_get_for_user(user=alice, pk=reply.pk)).data
    assert bodies == [expected]
    assert bodies[0]["edited_at"].endswith("Z") == (zone == "UTC")
