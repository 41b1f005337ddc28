"""Messages, their per-recipient read state, notifications and edit history."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from messaging import cache
from messaging.lookups import InSubquery
from messaging.managers import MessageQuerySet, UnreadMessagesManager


# Rows that point at a user whose account is deleted are purged in the background, in batches
# (tasks/cleanup.py). Their user foreign keys therefore do not cascade inside the DELETE of the
# user (which must stay instant whatever the amount of data), and carry no database constraint
# while the purge runs. Until then the selectors hide them: see MessageQuerySet.visible().
def _user_fk(related_name: str, *, null: bool = False, db_index: bool = True) -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
        null=null,
        blank=null,
        db_index=db_index,
    )


class Message(models.Model):
    """A direct message (receiver set) or a group message (conversation set), maybe a reply."""

    sender = _user_fk("sent_messages", db_index=False)
    receiver = _user_fk("received_messages", null=True, db_index=False)
    conversation = models.ForeignKey(
        "chats.Conversation",
        on_delete=models.CASCADE,
        related_name="messages",
        null=True,
        blank=True,
        db_index=False,
    )
    content = models.TextField(max_length=settings.MESSAGE_MAX_LENGTH)
    timestamp = models.DateTimeField(default=timezone.now)
    edited = models.BooleanField(default=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    edited_by = _user_fk("+", null=True, db_index=False)
    # How many times the content changed: the revision number of the next MessageHistory row.
    edit_count = models.PositiveIntegerField(default=0, editable=False)
    parent_message = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )

    objects = MessageQuerySet.as_manager()
    unread = UnreadMessagesManager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["sender", "-timestamp"], name="msg_sender_ts"),
            models.Index(fields=["receiver", "-timestamp"], name="msg_receiver_ts"),
            models.Index(fields=["conversation", "-timestamp"], name="msg_conversation_ts"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(receiver__isnull=False, conversation__isnull=True)
                    | Q(receiver__isnull=True, conversation__isnull=False)
                ),
                name="msg_direct_xor_group",
            )
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} from {self.sender_id}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        self._save_receiver_read()  # the seed's `read` flag, when it was set (see below)

    @property
    def is_direct(self) -> bool:
        return self.receiver_id is not None

    # --- The seed's read flag --------------------------------------------------------------
    # Read state is per recipient (MessageRead rows); `read` is the receiver's read state of a
    # direct message, as code written for the original project expects:
    # `Message.objects.create(..., read=True)`, `message.read = True; message.save()`,
    # `message.mark_as_read()`. A group message has no single receiver: its `read` is False
    # unless set on this instance, and setting it marks nothing.

    @property
    def read(self) -> bool:
        if "_receiver_read" not in self.__dict__:
            self._receiver_read = bool(
                self.pk
                and self.receiver_id
                and MessageRead.objects.filter(
                    message_id=self.pk, user_id=self.receiver_id
                ).exists()
            )
        return self._receiver_read

    @read.setter
    def read(self, value: bool) -> None:
        self._receiver_read = bool(value)
        self._receiver_read_changed = True

    is_read = read

    def mark_as_read(self) -> None:
        """Mark this direct message read by its receiver (and its notification). Idempotent."""
        self.read = True
        self._save_receiver_read()

    def _save_receiver_read(self) -> None:
        if not self.__dict__.pop("_receiver_read_changed", False) or self.receiver_id is None:
            return
        if self._receiver_read:
            MessageRead.objects.mark(message_id=self.pk, user_id=self.receiver_id)
        else:
            MessageRead.objects.unmark(message_id=self.pk, user_id=self.receiver_id)


Message._meta.get_field("conversation").register_lookup(InSubquery)


class ReadMarks(models.Manager):
    """Writes of read state: a read mark and the notification's read flag change together."""

    def mark(self, *, message_id: int, user_id: int) -> bool:
        """Mark the message read by the user; return whether it was unread until now."""
        now = timezone.now()
        unread = not self.filter(message_id=message_id, user_id=user_id).exists()
        self.bulk_create(
            [MessageRead(message_id=message_id, user_id=user_id, read_at=now)],
            ignore_conflicts=True,
        )
        Notification.objects.filter(user_id=user_id, message_id=message_id, read=False).update(
            read=True, read_at=now
        )
        cache.bump_users([user_id])
        return unread

    def unmark(self, *, message_id: int, user_id: int) -> None:
        self.filter(message_id=message_id, user_id=user_id).delete()
        Notification.objects.filter(user_id=user_id, message_id=message_id).update(
            read=False, read_at=None
        )
        cache.bump_users([user_id])


class MessageRead(models.Model):
    """That `user`, a recipient of `message`, has read it. Absence means unread."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reads")
    user = _user_fk("+", db_index=False)
    read_at = models.DateTimeField(default=timezone.now)

    objects = ReadMarks()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="msgread_user_message_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.message_id}"


class Notification(models.Model):
    """Tells `user` that `message` arrived. At most one per (user, message)."""

    user = _user_fk("notifications", db_index=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "message"], name="notification_user_message_uniq"
            )
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_created")]

    def __str__(self) -> str:
        return f"Notification {self.pk} for {self.user_id}"

    @property
    def is_read(self) -> bool:
        """The seed's name of `read`."""
        return self.read

    @is_read.setter
    def is_read(self, value: bool) -> None:
        self.read = value


class MessageHistory(models.Model):
    """One earlier version of a message's content, numbered by `revision` (1 = the original)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="history")
    # Numbered when the edit is saved; left out (code written for the seed), the next number.
    revision = models.PositiveIntegerField(blank=True)
    old_content = models.TextField()
    edited_by = _user_fk("+", null=True, db_index=False)
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "revision"]
        verbose_name_plural = "message histories"
        constraints = [
            models.UniqueConstraint(fields=["message", "revision"], name="history_message_rev_uniq")
        ]

    def __str__(self) -> str:
        return f"Message {self.message_id} revision {self.revision}"

    def save(self, *args, **kwargs) -> None:
        if self.revision is None:
            last = MessageHistory.objects.filter(message_id=self.message_id).aggregate(
                last=models.Max("revision")
            )["last"]
            self.revision = (last or 0) + 1
        super().save(*args, **kwargs)


class IdempotencyRecord(models.Model):
    """The first answer to a message POST sent with an `Idempotency-Key` header.

    Written in the same transaction as the message, so a retry finds either both or neither;
    the unique constraint makes the second of two concurrent duplicates fail and roll back.
    """

    user = _user_fk("+", db_index=False)
    key = models.CharField(max_length=255)
    # sha256 of the method, the path and the body: the same key with another request is a 422.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key}"
