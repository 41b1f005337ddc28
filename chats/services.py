"""Writes of conversations."""

from django.db import transaction

from chats.models import Conversation
from messaging.models import User


def conversation_create(*, creator: User, participants: list[User]) -> Conversation:
    """Start a conversation between the creator and the others (two or more people in all)."""
    with transaction.atomic():
        conversation = Conversation.objects.create(created_by=creator)
        conversation.participants.add(creator, *participants)
    return conversation
