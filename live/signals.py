"""Signal receivers of live delivery: a deleted account's open streams close at once."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete

from live import services


def user_deleted(sender, instance, **kwargs) -> None:
    services.live_user_deleted(user_id=instance.pk)


def connect() -> None:
    post_delete.connect(user_deleted, sender=get_user_model(), dispatch_uid="live.user_deleted")
