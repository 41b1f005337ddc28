"""JSON bodies of messages, notifications and conversations exactly as the REST API renders them,
built without DRF: the worker writes one per recipient of a fan-out, and a serializer per row
would cost more than the rest of the task (tests/messaging/test_shapes.py compares the two)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone


def iso(value: datetime | None, zone: tzinfo | None = None) -> str | None:
    """A datetime as DRF's DateTimeField renders it: ISO 8601 in the current zone, Z for UTC.

    `zone` is the current zone read once by the caller (a page of rows reads it once: the lookup
    costs more than the formatting).
    """
    if value is None:
        return None
    if value.utcoffset() is not None:
        value = value.astimezone(zone or timezone.get_current_timezone())
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# The columns of a message row as the lists read them (`.values(*MESSAGE_ROW)`).
MESSAGE_ROW = (
    "id",
    "sender_id",
    "sender__username",
    "receiver_id",
    "receiver__username",
    "conversation_id",
    "content",
    "timestamp",
    "edited",
    "edited_at",
    "edited_by_id",
    "parent_message_id",
    "viewer_read",
)


def message_row_bodies(rows: Iterable[dict[str, Any]]) -> list[dict]:
    """`message_row_body` of each row."""
    zone = timezone.get_current_timezone()
    return [message_row_body(row, zone) for row in rows]


def message_row_body(row: dict[str, Any], zone: tzinfo | None = None) -> dict:
    """MessageSerializer's output from a `.values(*MESSAGE_ROW)` row: the lists build no model
    instance and run no serializer per message (about half of an uncached page's cost)."""
    return {
        "id": row["id"],
        "sender": row["sender_id"],
        "sender_username": row["sender__username"],
        "receiver": row["receiver_id"],
        "receiver_username": row["receiver__username"],
        "conversation": row["conversation_id"],
        "content": row["content"],
        "timestamp": iso(row["timestamp"], zone),
        "edited": row["edited"],
        "edited_at": iso(row["edited_at"], zone),
        "edited_by": row["edited_by_id"],
        "parent_message": row["parent_message_id"],
        "read": row["viewer_read"],
    }


def message_body(message, *, read: bool, usernames: dict[int, str] | None = None) -> dict:
    """messaging.serializers.MessageSerializer's output for one reader (`read` is theirs).

    `usernames` may supply the sender's and receiver's names instead of the related objects.
    """
    names = usernames or {}
    sender_name = names.get(message.sender_id) or message.sender.username
    receiver_name = None
    if message.receiver_id is not None:
        receiver_name = names.get(message.receiver_id) or message.receiver.username
    return {
        "id": message.pk,
        "sender": message.sender_id,
        "sender_username": sender_name,
        "receiver": message.receiver_id,
        "receiver_username": receiver_name,
        "conversation": message.conversation_id,
        "content": message.content,
        "timestamp": iso(message.timestamp),
        "edited": message.edited,
        "edited_at": iso(message.edited_at),
        "edited_by": message.edited_by_id,
        "parent_message": message.parent_message_id,
        "read": read,
    }


def notification_body(notification: dict[str, Any], message: dict[str, Any]) -> dict:
    """NotificationSerializer's output, from a notification's values and its message's body."""
    return {
        "id": notification["id"],
        "message": {
            key: message[key]
            for key in ("id", "sender", "sender_username", "conversation", "content", "timestamp")
        },
        "created_at": iso(notification["created_at"]),
        "read": notification["read"],
        "read_at": iso(notification["read_at"]),
    }


def conversation_body(conversation, participants: list[tuple[int, str]]) -> dict:
    """chats.serializers.ConversationSerializer's output; `participants` as (id, username)."""
    return {
        "id": conversation.pk,
        "participants": [{"id": pk, "username": name} for pk, name in sorted(participants)],
        "created_by": conversation.created_by_id,
        "created_at": iso(conversation.created_at),
    }
