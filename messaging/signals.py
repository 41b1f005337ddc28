"""Signal receivers. Each records one outbox event in the saving transaction; nothing else.

The event is published to the broker after commit (tasks/outbox.py), and the relay resends it
if the broker was down, so no effect is lost; the tasks that consume events are idempotent.
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone

from messaging import cache
from messaging.models import Message
from tasks.models import OutboxEvent
from tasks.outbox import outbox_enqueue


def message_created(sender, instance: Message, created: bool, raw: bool = False, **kwargs) -> None:
    """A new message: its recipients get notifications (tasks/notifications.py)."""
    if created and not raw:
        outbox_enqueue(kind=OutboxEvent.Kind.MESSAGE_CREATED, payload={"message_id": instance.pk})


def message_capture_edit(sender, instance: Message, raw: bool = False, **kwargs) -> None:
    """Before a content change is written, capture the old content (tasks/history.py).

    The current row is read under its lock, so concurrent edits are serialized and each one
    archives exactly the version it replaced, numbered in order (`edit_count`).
    """
    if raw or instance._state.adding or instance.pk is None:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "content" not in update_fields:
        return
    current = Message.objects.filter(pk=instance.pk)
    if connection.in_atomic_block:
        current = current.select_for_update()
    row = current.values_list("content", "edit_count", "edited_at").first()
    if row is None or row[0] == instance.content:
        return
    old_content, edit_count, last_edited_at = row
    instance.edit_count = edit_count + 1
    instance.edited = True
    if instance.edited_at is None or instance.edited_at == last_edited_at:
        instance.edited_at = timezone.now()  # an edit from the admin or the shell
    if update_fields is not None:  # a partial save would not write the fields set above
        Message.objects.filter(pk=instance.pk).update(
            edit_count=instance.edit_count, edited=True, edited_at=instance.edited_at
        )
    outbox_enqueue(
        kind=OutboxEvent.Kind.MESSAGE_EDITED,
        payload={
            "message_id": instance.pk,
            "revision": instance.edit_count,
            "old_content": old_content,
            "edited_by_id": instance.edited_by_id,
            "edited_at": instance.edited_at.isoformat(),
        },
        key=f"message:{instance.pk}",
    )


def user_deleted(sender, instance, **kwargs) -> None:
    """An account is gone (API, admin or shell): purge its data (tasks/cleanup.py)."""
    outbox_enqueue(
        kind=OutboxEvent.Kind.USER_DELETED,
        payload={"user_id": instance.pk},
        key=f"user:{instance.pk}",
    )


def user_deleted_invalidate_lists(sender, instance, **kwargs) -> None:
    """Whatever the account wrote disappears from everybody's lists at once."""
    cache.bump_all()


def connect() -> None:
    post_save.connect(message_created, sender=Message, dispatch_uid="messaging.message_created")
    pre_save.connect(
        message_capture_edit, sender=Message, dispatch_uid="messaging.message_capture_edit"
    )
    post_delete.connect(
        user_deleted, sender=get_user_model(), dispatch_uid="messaging.user_deleted"
    )
    post_delete.connect(
        user_deleted_invalidate_lists,
        sender=get_user_model(),
        dispatch_uid="messaging.user_deleted_invalidate_lists",
    )
