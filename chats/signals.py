"""Signal receivers of conversations: a membership change invalidates the cached lists."""

from django.db.models.signals import m2m_changed

from chats.models import Conversation
from messaging import cache


def participants_changed(sender, instance, action, pk_set, reverse, **kwargs) -> None:
    """Whoever joins or leaves (from the API, the admin or the shell) sees it at once."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # user.conversations.add(...): `instance` is the user
        cache.bump_users([instance.pk])
        for conversation_id in pk_set or ():
            cache.bump_conversation(conversation_id)
        return
    users = pk_set if pk_set else instance.participants.values_list("pk", flat=True)
    cache.bump_users(list(users))
    cache.bump_conversation(instance.pk)


def connect() -> None:
    m2m_changed.connect(
        participants_changed,
        sender=Conversation.participants.through,
        dispatch_uid="chats.participants_changed",
    )
