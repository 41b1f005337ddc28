"""Signal receivers: each hands the change to one service, which records what is owed.

Message saves and account deletions record an outbox event in the saving transaction (see
messaging/services.py); it is published to the broker after commit and resent by the relay if
the broker was down, so no effect is lost. Membership changes invalidate cached lists.
"""

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from chats.models import Conversation
from messaging import services
from messaging.models import Message


def message_created(sender, instance: Message, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        services.notifications_schedule(message=instance)


def message_capture_edit(sender, instance: Message, raw: bool = False, **kwargs) -> None:
    if not raw:
        services.message_edit_capture(message=instance, update_fields=kwargs.get("update_fields"))


def user_deleting(sender, instance, **kwargs) -> None:
    services.account_deletion_wait(user_id=instance.pk)


def user_deleted(sender, instance, **kwargs) -> None:
    # The purge's task id, for whoever deleted the account (the delete-user endpoint shows it).
    instance.data_purge_task_id = services.user_data_purge_schedule(user_id=instance.pk).task_id


def participants_changed(sender, instance, action, pk_set, reverse, **kwargs) -> None:
    """Whoever joins or leaves (API, admin or shell) sees it in their lists at once, and is told
    by the worker."""
    if action in ("post_add", "post_remove", "pre_clear"):
        services.membership_changed(
            instance=instance, pk_set=pk_set, instance_is_user=reverse, action=action
        )


def connect() -> None:
    post_save.connect(message_created, sender=Message, dispatch_uid="messaging.message_created")
    pre_save.connect(
        message_capture_edit, sender=Message, dispatch_uid="messaging.message_capture_edit"
    )
    pre_delete.connect(
        user_deleting, sender=get_user_model(), dispatch_uid="messaging.user_deleting"
    )
    post_delete.connect(
        user_deleted, sender=get_user_model(), dispatch_uid="messaging.user_deleted"
    )
    m2m_changed.connect(
        participants_changed,
        sender=Conversation.participants.through,
        dispatch_uid="messaging.participants_changed",
    )
