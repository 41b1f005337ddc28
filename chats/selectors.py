"""Reads of conversations: only those the user takes part in."""

from django.db.models import Prefetch

from chats.models import Conversation
from messaging.models import User


def conversation_list_for_user(*, user: User):
    return Conversation.objects.filter(participants=user).prefetch_related(
        Prefetch("participants", queryset=User.objects.only("id", "username").order_by("id"))
    )


def conversation_participant_ids(*, user: User, conversation_id) -> list[int] | None:
    """The participant ids if `user` is one of them, else None (the caller then answers 404)."""
    if not 0 < int(conversation_id) < 2**63:  # SQLite raises OverflowError on a bigger int
        return None
    ids = list(
        Conversation.participants.through.objects.filter(
            conversation_id=conversation_id
        ).values_list("user_id", flat=True)
    )
    return ids if user.pk in ids else None
