"""Writes of the messaging domain. Views, signal receivers and tasks call these, nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chats.models import Conversation
from messaging import cache
from messaging.models import Message, MessageHistory, MessageRead, Notification, User
from tasks.models import OutboxEvent

Progress = Callable[[int, int], None]


# --- Accounts -------------------------------------------------------------------------------


def user_register(*, username: str, email: str, password: str) -> User:
    user = User(username=username, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


def user_delete(*, user: User) -> OutboxEvent:
    """Delete the account at once; its data is purged in the background.

    The DELETE of the user row is instant whatever the amount of data (nothing cascades through
    the messages), its tokens stop working because the user no longer exists, and the selectors
    hide whatever still refers to it until the purge task has removed it.
    """
    user_id = user.pk
    with transaction.atomic():
        user.delete()  # the post_delete receiver records the purge event in this transaction
    return OutboxEvent.objects.filter(
        kind=OutboxEvent.Kind.USER_DELETED, key=f"user:{user_id}"
    ).latest("created_at")


# --- Messages -------------------------------------------------------------------------------


def _lock_live_users(*user_ids: int) -> None:
    """Lock these accounts against deletion until commit, or refuse if one is already gone.

    A message committed after its sender's or receiver's purge had finished would stay behind
    for good; with the lock, the purge (which starts after the user row is deleted) sees it.
    """
    wanted = set(user_ids)
    alive = set(
        User.objects.select_for_update(no_key=True)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
    if alive != wanted:
        raise ValidationError({"receiver": ["This account no longer exists."]})


def _participant_ids(conversation_id: int) -> list[int]:
    return list(
        Conversation.participants.through.objects.filter(
            conversation_id=conversation_id
        ).values_list("user_id", flat=True)
    )


def _concerned_user_ids(message: Message) -> list[int]:
    if message.conversation_id is not None:
        return _participant_ids(message.conversation_id)
    return [message.sender_id, message.receiver_id]


def _invalidate_lists(message: Message, user_ids: Iterable[int] | None = None) -> None:
    cache.bump_users(user_ids if user_ids is not None else _concerned_user_ids(message))
    if message.conversation_id is not None:
        cache.bump_conversation(message.conversation_id)


def message_send(
    *, sender: User, receiver: User, content: str, parent_message: Message | None = None
) -> Message:
    """Send a direct message. The notification is created by the worker (messaging/signals.py)."""
    with transaction.atomic():
        _lock_live_users(sender.pk, receiver.pk)
        message = Message.objects.create(
            sender=sender, receiver=receiver, content=content, parent_message=parent_message
        )
        _invalidate_lists(message, [sender.pk, receiver.pk])
    return message


def conversation_message_post(
    *,
    sender: User,
    conversation: Conversation,
    content: str,
    parent_message: Message | None = None,
    participant_ids: list[int] | None = None,
) -> Message:
    """Post into a conversation; every other participant is notified by the worker."""
    with transaction.atomic():
        _lock_live_users(sender.pk)
        message = Message.objects.create(
            sender=sender,
            conversation=conversation,
            content=content,
            parent_message=parent_message,
        )
        ids = participant_ids if participant_ids is not None else _participant_ids(conversation.pk)
        _invalidate_lists(message, ids)
    return message


def message_edit(*, message: Message, editor: User, content: str) -> Message:
    """Change the content. The pre_save receiver archives the old version in this transaction."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.content == content:
            return message
        message.content = content
        message.edited_by = editor
        message.edited_at = timezone.now()
        message.save()
        _invalidate_lists(message)
    return message


def message_delete(*, message: Message) -> None:
    with transaction.atomic():
        _invalidate_lists(message)
        message.delete()


def message_mark_read(*, message: Message, user: User) -> None:
    """Mark a received message read for `user`, and its notification with it. Idempotent."""
    now = timezone.now()
    with transaction.atomic():
        MessageRead.objects.bulk_create(
            [MessageRead(message=message, user=user, read_at=now)], ignore_conflicts=True
        )
        Notification.objects.filter(user=user, message=message, read=False).update(
            read=True, read_at=now
        )
        cache.bump_users([user.pk])


def notification_mark_read(*, notification: Notification) -> None:
    """Mark a notification read, and the message it is about with it. Idempotent."""
    now = timezone.now()
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk, read=False).update(read=True, read_at=now)
        MessageRead.objects.bulk_create(
            [MessageRead(message_id=notification.message_id, user_id=notification.user_id)],
            ignore_conflicts=True,
        )
        cache.bump_users([notification.user_id])


# --- Background work (called by the tasks in tasks/) ----------------------------------------


def notification_create_for_messages(*, message_ids: Iterable[int]) -> int:
    """Create one notification per recipient of each message; return how many rows were asked.

    Idempotent: the (user, message) unique constraint turns a repeat into no rows. Messages that
    are gone, or whose sender's account is deleted, get none.
    """
    messages = list(
        Message.objects.visible()
        .filter(pk__in=list(message_ids))
        .values_list("pk", "sender_id", "receiver_id", "conversation_id", "timestamp")
    )
    conversation_ids = {m[3] for m in messages if m[3] is not None}
    members: dict[int, list[int]] = {}
    if conversation_ids:
        rows = Conversation.participants.through.objects.filter(
            conversation_id__in=conversation_ids
        ).values_list("conversation_id", "user_id")
        for conversation_id, user_id in rows:
            members.setdefault(conversation_id, []).append(user_id)
    now = timezone.now()
    notifications = []
    for pk, sender_id, receiver_id, conversation_id, _ts in messages:
        recipients = [receiver_id] if conversation_id is None else members.get(conversation_id, [])
        notifications.extend(
            Notification(user_id=user_id, message_id=pk, created_at=now)
            for user_id in recipients
            if user_id != sender_id
        )
    Notification.objects.bulk_create(notifications, ignore_conflicts=True, batch_size=1_000)
    return len(notifications)


def message_history_archive(*, edits: Iterable[dict[str, Any]]) -> int:
    """Store old versions captured at edit time. Idempotent on (message, revision).

    The revision was numbered under the message's row lock when the edit was saved, so the
    order is right however late or out of order the archiving runs.
    """
    edits = list(edits)
    alive = set(
        Message.objects.filter(pk__in={e["message_id"] for e in edits}).values_list("pk", flat=True)
    )
    rows = [
        MessageHistory(
            message_id=e["message_id"],
            revision=e["revision"],
            old_content=e["old_content"],
            edited_by_id=e.get("edited_by_id"),
            edited_at=parse_datetime(e["edited_at"]),
        )
        for e in edits
        if e["message_id"] in alive
    ]
    MessageHistory.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _delete_rows(model, ids: list[int]) -> None:
    model.objects.filter(pk__in=ids).delete()  # no signals, no relations: one DELETE


def _delete_messages(model, ids: list[int]) -> None:
    """Delete messages with what hangs on them in five set-based statements.

    Django's collector would load every row and ask each relation in turn (about 17 statements
    a batch); the relations are known here, so they are handled directly. Messages have no
    delete signals to skip.
    """
    Message.objects.filter(parent_message_id__in=ids).update(parent_message=None)
    for related in (Notification, MessageRead, MessageHistory):
        related.objects.filter(message_id__in=ids).delete()
    deleted = Message.objects.filter(pk__in=ids)
    deleted._raw_delete(deleted.db)


def user_data_purge(
    *, user_id: int, batch_size: int | None = None, progress: Progress | None = None
) -> dict[str, int]:
    """Remove what a deleted account leaves behind, one bounded transaction at a time.

    Removes the messages the user sent (direct and group), the direct messages they received,
    with those messages' notifications, read marks and histories; the user's own notifications
    and read marks; and their conversation memberships. Replies by others under a removed
    message stay and lose only their parent link. Idempotent and resumable: a second run, or a
    run after a crash, removes what is left.
    """
    if User.objects.filter(pk=user_id).exists():
        return {"done": 0, "total": 0}  # the account exists again? never touch a live user
    batch_size = batch_size or settings.PURGE_BATCH_SIZE
    messages = Message.objects.filter(Q(sender_id=user_id) | Q(receiver_id=user_id))
    own_notifications = Notification.objects.filter(user_id=user_id)
    own_reads = MessageRead.objects.filter(user_id=user_id)
    total = messages.count() + own_notifications.count() + own_reads.count()
    done = 0
    if progress:
        progress(done, total)

    # The user's own rows first: deleting the messages first would cascade some of them away
    # uncounted, and `done` would never reach `total`.
    for queryset, delete in (
        (own_notifications, _delete_rows),
        (own_reads, _delete_rows),
        (messages, _delete_messages),
    ):
        while True:
            with transaction.atomic():
                ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                delete(queryset.model, ids)
            done += len(ids)
            if progress:
                progress(done, total)
            if settings.PURGE_BATCH_PAUSE_SECONDS:
                time.sleep(settings.PURGE_BATCH_PAUSE_SECONDS)

    Conversation.participants.through.objects.filter(user_id=user_id).delete()
    with transaction.atomic():
        cache.bump_all()
    return {"done": done, "total": total}
