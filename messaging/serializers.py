"""JSON shapes of messages, threads, notifications and edit history."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from accounts.models import User
from core.ids import MAX_ID
from messaging.models import Message, MessageHistory, Notification
from messaging.selectors import message_parent_candidates


def content_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=settings.MESSAGE_MAX_LENGTH, allow_blank=False, trim_whitespace=False
    )


def _require_visible_text(value: str) -> str:
    if not value.strip():
        raise serializers.ValidationError("Content must not be empty.")
    return value


class MessageSerializer(serializers.ModelSerializer):
    """A message as the caller sees it; `read` is the caller's own read state."""

    sender_username = serializers.CharField(source="sender.username", read_only=True)
    receiver_username = serializers.CharField(
        source="receiver.username", read_only=True, allow_null=True, default=None
    )
    read = serializers.BooleanField(source="viewer_read", read_only=True)

    class Meta:
        model = Message
        fields = (
            "id",
            "sender",
            "sender_username",
            "receiver",
            "receiver_username",
            "conversation",
            "content",
            "timestamp",
            "edited",
            "edited_at",
            "edited_by",
            "parent_message",
            "read",
        )
        read_only_fields = fields


class _ParentMessageMixin:
    """`parent_message`: a message the caller can see in the same direct chat or conversation.

    Anything else is the same 400, whether the message exists or not.
    """

    def _validate_parent(self, attrs, *, receiver_id=None, conversation_id=None):
        parent_id = attrs.get("parent_message")
        if parent_id is None:
            return attrs
        parent = (
            message_parent_candidates(
                user=self.context["request"].user,
                receiver_id=receiver_id,
                conversation_id=conversation_id,
            )
            .filter(pk=parent_id)
            .first()
        )
        if parent is None:
            raise serializers.ValidationError({"parent_message": ["No such message in this chat."]})
        attrs["parent_message"] = parent
        return attrs


class DirectMessageCreateSerializer(_ParentMessageMixin, serializers.Serializer):
    receiver = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    content = content_field()
    parent_message = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )

    def validate_content(self, value: str) -> str:
        return _require_visible_text(value)

    def validate_receiver(self, value: User) -> User:
        if value.pk == self.context["request"].user.pk:
            raise serializers.ValidationError("You cannot send a direct message to yourself.")
        return value

    def validate(self, attrs):
        return self._validate_parent(attrs, receiver_id=attrs["receiver"].pk)


class GroupMessageCreateSerializer(_ParentMessageMixin, serializers.Serializer):
    content = content_field()
    parent_message = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )

    def validate_content(self, value: str) -> str:
        return _require_visible_text(value)

    def validate(self, attrs):
        return self._validate_parent(attrs, conversation_id=self.context["conversation"].pk)


class MessageUpdateSerializer(serializers.Serializer):
    content = content_field()

    def validate_content(self, value: str) -> str:
        return _require_visible_text(value)


class ThreadMessageSerializer(MessageSerializer):
    """Schema of one node of a thread: a message with its `replies`, nested."""

    replies = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = (*MessageSerializer.Meta.fields, "replies")
        read_only_fields = fields


def thread_tree(root: Message, children: dict[int, list[Message]]) -> dict:
    """Nest the thread's messages under `root` without recursion (threads may be deep)."""
    nodes = {}
    order = [root]
    for message in order:  # breadth first; `order` grows as children are found
        order.extend(children.get(message.pk, []))
    data = MessageSerializer(order, many=True).data
    for message, item in zip(order, data, strict=True):
        item["replies"] = []
        nodes[message.pk] = item
    for message in order[1:]:
        nodes[message.parent_message_id]["replies"].append(nodes[message.pk])
    return nodes[root.pk]


class MessageHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageHistory
        fields = ("revision", "old_content", "edited_by", "edited_at")
        read_only_fields = fields


class NotificationMessageSerializer(serializers.ModelSerializer):
    sender_username = serializers.CharField(source="sender.username", read_only=True)

    class Meta:
        model = Message
        fields = ("id", "sender", "sender_username", "conversation", "content", "timestamp")
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    message = NotificationMessageSerializer(read_only=True)

    class Meta:
        model = Notification
        fields = ("id", "message", "created_at", "read", "read_at")
        read_only_fields = fields


class TaskAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField()
    task_id = serializers.CharField()
