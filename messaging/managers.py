"""Query sets of messages: what a user may see, what they received, and what they have not read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Case, Exists, OuterRef, Q, Value, When

if TYPE_CHECKING:
    from messaging.models import User

# The fields a message list shows; `.only()` keeps the rows narrow.
LIST_FIELDS = (
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
)


def _conversation_ids(user: User) -> models.QuerySet:
    from chats.models import Conversation

    return Conversation.participants.through.objects.filter(user_id=user.pk).values(
        "conversation_id"
    )


class MessageQuerySet(models.QuerySet):
    def visible(self) -> MessageQuerySet:
        """Hide messages of deleted accounts (the purge removes them in the background).

        The sender must exist, and so must the receiver of a direct message. The joins are the
        ones `select_related("sender", "receiver")` needs anyway.
        """
        return self.filter(sender__username__isnull=False).filter(
            Q(receiver_id__isnull=True) | Q(receiver__username__isnull=False)
        )

    def for_user(self, user: User) -> MessageQuerySet:
        """Messages `user` may see: sent or received directly, or in their conversations."""
        return self.visible().filter(
            Q(sender_id=user.pk)
            | Q(receiver_id=user.pk)
            | Q(conversation__in_subquery=_conversation_ids(user))
        )

    def received_by(self, user: User) -> MessageQuerySet:
        """Messages addressed to `user`: direct ones, and others' posts in their conversations."""
        return self.visible().filter(
            Q(receiver_id=user.pk)
            | (Q(conversation__in_subquery=_conversation_ids(user)) & ~Q(sender_id=user.pk))
        )

    def with_read_state(self, user: User) -> MessageQuerySet:
        """Annotate `read` as seen by `user`: their own messages count as read."""
        from messaging.models import MessageRead

        read_by_user = Exists(
            MessageRead.objects.filter(message_id=OuterRef("pk"), user_id=user.pk)
        )
        return self.annotate(
            read=Case(When(sender_id=user.pk, then=Value(True)), default=read_by_user)
        )

    def for_list(self) -> MessageQuerySet:
        return self.select_related("sender", "receiver").only(*LIST_FIELDS)


class UnreadMessagesManager(models.Manager.from_queryset(MessageQuerySet)):
    """`Message.unread.unread_for_user(user)`: the messages `user` received and has not read."""

    def unread_for_user(self, user: User) -> MessageQuerySet:
        from messaging.models import MessageRead

        already_read = MessageRead.objects.filter(message_id=OuterRef("pk"), user_id=user.pk)
        return (
            self.get_queryset()
            .received_by(user)
            .filter(~Exists(already_read))
            .annotate(read=Value(False))
            .for_list()
        )
