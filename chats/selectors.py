"""Reads of conversations: only those the user takes part in."""

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from chats.models import Conversation
from core.ids import is_valid_id


def conversation_list_for_user(*, user: User):
    return Conversation.objects.filter(participants=user).prefetch_related(
        Prefetch("participants", queryset=User.objects.only("id", "username").order_by("id"))
    )


def conversation_ids_of(*, user_id: int) -> QuerySet:
    """The ids of the conversations the user takes part in, as a subquery."""
    return Conversation.participants.through.objects.filter(user_id=user_id).values(
        "conversation_id"
    )


def participant_ids(*, conversation_id: int) -> list[int]:
    return list(
        Conversation.participants.through.objects.filter(
            conversation_id=conversation_id
        ).values_list("user_id", flat=True)
    )


def members_by_conversation(*, conversation_ids) -> dict[int, list[int]]:
    """The participant ids of each of these conversations."""
    members: dict[int, list[int]] = {}
    rows = Conversation.participants.through.objects.filter(
        conversation_id__in=conversation_ids
    ).values_list("conversation_id", "user_id")
    for conversation_id, user_id in rows:
        members.setdefault(conversation_id, []).append(user_id)
    return members


def conversation_participant_ids(*, user: User, conversation_id) -> list[int] | None:
    """The participant ids if `user` is one of them, else None (the caller then answers 404)."""
    if not is_valid_id(conversation_id):
        return None
    ids = participant_ids(conversation_id=int(conversation_id))
    return ids if user.pk in ids else None


def memberships() -> QuerySet:
    """Every (conversation, participant) row, to build subqueries on."""
    return Conversation.participants.through.objects.all()


def participants_by_conversation(*, conversation_ids) -> dict[int, list[tuple[int, str]]]:
    """(id, username) of the participants of each of these conversations, by id."""
    members: dict[int, list[tuple[int, str]]] = {}
    rows = (
        Conversation.participants.through.objects.filter(conversation_id__in=conversation_ids)
        .order_by("user_id")
        .values_list("conversation_id", "user_id", "user__username")
    )
    for conversation_id, user_id, username in rows:
        members.setdefault(conversation_id, []).append((user_id, username))
    return members
