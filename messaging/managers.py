"""Query sets of messages: what a user may see, what they received, and what they have not read."""

from __future__ import annotations

from django.db import models
from django.db.models import Case, Exists, OuterRef, Q, Value, When

from accounts.models import User
from chats.selectors import conversation_ids_of, memberships

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


class MessageQuerySet(models.QuerySet):
    def _read_marks(self) -> models.QuerySet:
        """MessageRead rows (found through the `reads` relation, so this module needs no
        import of the models module that imports it)."""
        return self.model._meta.get_field("reads").related_model.objects

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
            | Q(conversation__in_subquery=conversation_ids_of(user_id=user.pk))
        )

    def received_by(self, user: User) -> MessageQuerySet:
        """Messages addressed to `user`: direct ones, and others' posts in their conversations."""
        return self.visible().filter(
            Q(receiver_id=user.pk)
            | (
                Q(conversation__in_subquery=conversation_ids_of(user_id=user.pk))
                & ~Q(sender_id=user.pk)
            )
        )

    def with_read_state(self, user: User) -> MessageQuerySet:
        """Annotate `viewer_read`, the read state as `user` sees it: their own messages count
        as read. (`Message.read` is the seed's name for the receiver's read state.)"""
        read_by_user = Exists(self._read_marks().filter(message_id=OuterRef("pk"), user_id=user.pk))
        return self.annotate(
            viewer_read=Case(When(sender_id=user.pk, then=Value(True)), default=read_by_user)
        )

    def unread_by_a_recipient(self) -> MessageQuerySet:
        """Messages some recipient has not read: a direct message its receiver has not read,
        a group message that at least one other participant has not read."""
        reads = self._read_marks()
        direct = Q(receiver_id__isnull=False) & ~Exists(
            reads.filter(message_id=OuterRef("pk"), user_id=OuterRef("receiver_id"))
        )
        member_has_read = reads.filter(
            message_id=OuterRef(OuterRef("pk")), user_id=OuterRef("user_id")
        )
        unread_member = (
            memberships()
            .filter(conversation_id=OuterRef("conversation_id"))
            .exclude(user_id=OuterRef("sender_id"))
            .filter(~Exists(member_has_read))
        )
        return self.filter(direct | (Q(conversation_id__isnull=False) & Exists(unread_member)))

    def for_list(self) -> MessageQuerySet:
        return self.select_related("sender", "receiver").only(*LIST_FIELDS)


class UnreadMessagesManager(models.Manager.from_queryset(MessageQuerySet)):
    """`Message.unread`: unread messages only, whichever method is called.

    `unread_for_user(user)` (also `for_user` and `received_by`) gives the messages `user`
    received and has not read; every other query (`all()`, `filter()`, `count()`...) starts
    from the messages some recipient has not read.
    """

    def get_queryset(self) -> MessageQuerySet:
        return super().get_queryset().unread_by_a_recipient()

    def unread_for_user(self, user: User) -> MessageQuerySet:
        queryset = super().get_queryset()
        already_read = queryset._read_marks().filter(message_id=OuterRef("pk"), user_id=user.pk)
        return (
            queryset.received_by(user)
            .filter(~Exists(already_read))
            .annotate(viewer_read=Value(False))
            .for_list()
        )

    def for_user(self, user: User) -> MessageQuerySet:
        return self.unread_for_user(user)

    def received_by(self, user: User) -> MessageQuerySet:
        return self.unread_for_user(user)
