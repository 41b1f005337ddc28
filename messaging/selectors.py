"""Reads of the messaging domain: what a user may see, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.db.models import Q
from django.db.models.expressions import RawSQL

from accounts.models import User
from chats.selectors import conversation_ids_of
from core.prepared import PreparedRows
from messaging.models import Message, MessageHistory, Notification
from messaging.shapes import MESSAGE_ROW


def message_list_for_user(*, user: User):
    """The user's messages, sent or received, direct or group, with `read` as the user sees it."""
    return Message.objects.for_user(user).with_read_state(user).for_list()


# The row lists below are compiled to SQL once per shape (core.prepared): their builders take
# ids, and read nothing of a user but the primary key.


def _message_rows(user_id: int):
    user = User(pk=user_id)
    return Message.objects.for_user(user).with_read_state(user).values(*MESSAGE_ROW)


def message_rows_for_user(*, user: User) -> PreparedRows:
    """The same messages as rows (`messaging.shapes.MESSAGE_ROW`), for the list endpoint."""
    return PreparedRows(Message, _message_rows, {"user_id": user.pk})


def _unread_rows(user_id: int):
    return Message.unread.unread_for_user(User(pk=user_id)).values(*MESSAGE_ROW)


def unread_message_rows(*, user: User) -> PreparedRows:
    """`Message.unread.unread_for_user(user)` as rows."""
    return PreparedRows(Message, _unread_rows, {"user_id": user.pk})


def _conversation_rows(user_id: int, conversation_id: int):
    return (
        Message.objects.visible()
        .filter(conversation_id=conversation_id)
        .with_read_state(User(pk=user_id))
        .values(*MESSAGE_ROW)
    )


def conversation_message_rows(*, user: User, conversation_id: int) -> PreparedRows:
    """A conversation's messages as rows, with `read` as `user` sees it."""
    ids = {"user_id": user.pk, "conversation_id": int(conversation_id)}
    return PreparedRows(Message, _conversation_rows, ids)


def message_get_for_user(*, user: User, pk) -> Message | None:
    return message_list_for_user(user=user).filter(pk=pk).first()


def message_parent_candidates(
    *, user: User, receiver_id: int | None = None, conversation_id: int | None = None
):
    """Messages a reply may hang under: the same direct chat, or the same conversation."""
    visible = Message.objects.for_user(user)
    if conversation_id is not None:
        return visible.filter(conversation_id=conversation_id)
    pair = Q(sender_id=user.pk, receiver_id=receiver_id) | Q(
        sender_id=receiver_id, receiver_id=user.pk
    )
    return visible.filter(pair)


def message_history(*, message: Message):
    return MessageHistory.objects.filter(message=message).order_by("revision")


def notifications_for_user(*, user: User):
    """The user's notifications of messages they may see now.

    A direct message stays theirs (they received it); a group message only while they take part
    in its conversation: whoever leaves or is removed loses its notifications with the messages.
    """
    still_visible = Q(message__conversation__isnull=True) | Q(
        message__conversation__in_subquery=conversation_ids_of(user_id=user.pk)
    )
    return (
        Notification.objects.filter(user_id=user.pk)
        .filter(still_visible)
        .filter(message__sender__username__isnull=False)  # hide deleted accounts' messages
        .select_related("message", "message__sender")
        .order_by("-created_at", "-id")
    )


def _thread_ids_sql() -> str:
    """Ids of a message and all its descendants; UNION (not ALL) so a cycle cannot loop."""
    table = Message._meta.db_table  # identifiers from the model, values are bound parameters
    parent = Message._meta.get_field("parent_message").column
    return (
        f"WITH RECURSIVE thread(id) AS ("  # noqa: S608
        f" SELECT id FROM {table} WHERE id = %s"
        f" UNION"
        f" SELECT m.id FROM {table} m JOIN thread t ON m.{parent} = t.id"
        f") SELECT id FROM thread LIMIT %s"
    )


def message_thread(*, user: User, root: Message) -> tuple[Message, dict[int, list[Message]], bool]:
    """The root and its replies at any depth, in one query (a recursive CTE).

    Returns the root, the children of each message oldest first, and whether the thread was cut
    at THREAD_MAX_MESSAGES.
    """
    limit = settings.THREAD_MAX_MESSAGES
    rows = list(
        message_list_for_user(user=user)
        .filter(pk__in=RawSQL(_thread_ids_sql(), [root.pk, limit + 1]))  # noqa: S611
        .order_by("timestamp", "id")
    )
    truncated = len(rows) > limit
    by_id = {m.pk: m for m in rows[:limit]}
    children: dict[int, list[Message]] = defaultdict(list)
    for message in by_id.values():  # oldest first, so each list of replies is too
        if message.pk != root.pk and message.parent_message_id in by_id:
            children[message.parent_message_id].append(message)
    # Cut below THREAD_MAX_DEPTH levels: a reply chain can be made arbitrarily deep.
    level, depth = [root.pk], 0
    while level:
        depth += 1
        below = [child.pk for pk in level for child in children.get(pk, [])]
        if depth > settings.THREAD_MAX_DEPTH and below:
            for pk in level:
                children.pop(pk, None)
            truncated = True
            break
        level = below
    return by_id.get(root.pk, root), children, truncated
