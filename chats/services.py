"""Writes of conversations."""

from django.db import transaction

from accounts.models import User
from chats.models import Conversation


def conversation_create(*, creator: User, participants: list[User]) -> Conversation:
    """Start a conversation between the creator and the others (two or more people in all)."""
    with transaction.atomic():
        conversation = Conversation.objects.create(created_by=creator)
        conversation.participants.add(creator, *participants)
    return conversation


def conversation_leave(*, user: User, conversation: Conversation) -> None:
    """Take the user out of the conversation. What they posted stays for the others.

    Through `participants.remove`, so that the m2m_changed receiver invalidates their cached
    lists as for any membership change.
    """
    with transaction.atomic():
        conversation.participants.remove(user)


def membership_remove_all(*, user_id: int) -> None:
    """Take a (deleted) account out of every conversation."""
    Conversation.participants.through.objects.filter(user_id=user_id).delete()
