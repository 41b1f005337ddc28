"""Writes of the messaging domain. Views, signal receivers and tasks call these, nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from chats import selectors as chat_selectors
from chats.models import Conversation
from chats.services import membership_remove_all
from core.locks import advisory_object_key
from core.prepared import NewRow, PreparedRows, id_params
from live.services import Event, live_forget_user, live_publish
from messaging import cache, shapes
from messaging.models import IdempotencyRecord, Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent
from outbox.services import outbox_discard, outbox_enqueue

Progress = Callable[[int, int], None]

# The Celery tasks (tasks/) that carry this app's outbox events; each calls the service of the
# same name below.
NOTIFY_TASK = "notification_create_for_messages"
ARCHIVE_TASK = "message_history_archive"
PURGE_TASK = "user_data_purge"
DELETE_TASK = "message_delete_announce"
MEMBERSHIP_TASK = "conversation_membership_announce"

# Types of the events written into users' live logs (live/): see live/schema.py for their bodies.
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
MESSAGE_DELETED = "message.deleted"
MESSAGE_READ = "message.read"
NOTIFICATION_CREATED = "notification.created"
CONVERSATION_ADDED = "conversation.added"
CONVERSATION_REMOVED = "conversation.removed"


# --- Messages -------------------------------------------------------------------------------


def _live_users_sql(using) -> str:
    """SELECT the ids of two accounts under the weakest row lock that a DELETE of either waits
    for: PostgreSQL's FOR KEY SHARE, which Django's select_for_update() does not offer (its
    weakest, FOR NO KEY UPDATE, is exclusive: concurrent sends from or to one account queued on
    it through their commits). SQLite has no row locks: it serializes writers anyway."""
    ops = using.ops
    table, pk = ops.quote_name(User._meta.db_table), ops.quote_name(User._meta.pk.column)
    lock = " FOR KEY SHARE" if using.vendor == "postgresql" else ""
    # names quoted by the backend; the ids are parameters
    return f"SELECT {table}.{pk} FROM {table} WHERE {table}.{pk} IN (%s, %s){lock}"  # noqa: S608


def _account_key(user_id: int) -> int:
    return advisory_object_key("account", user_id)


def _lock_live_users(*user_ids: int) -> None:
    """Lock these accounts (one or two) against deletion until commit, or refuse if one is
    already gone.

    A message committed after its sender's or receiver's purge had finished would stay behind
    for good; with the lock, the purge (which starts after the user row is deleted) sees it.
    On PostgreSQL sends share it: they take each account's advisory lock shared, which a
    deletion takes exclusively first (`account_deletion_wait`), then the row FOR KEY SHARE.
    """
    wanted = sorted(set(user_ids))
    first, second = (*wanted, *wanted)[:2]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock_shared(%s)",
                [_account_key(first), _account_key(second)],
            )
        cursor.execute(_live_users_sql(connection), [first, second])
        found = {pk for (pk,) in cursor.fetchall()}
    if found != set(wanted):
        raise ValidationError({"receiver": ["This account no longer exists."]})


def account_deletion_wait(*, user_id: int) -> None:
    """Before an account's row is deleted, in the deleting transaction (the User's pre_delete):
    wait for the sends that hold the account, and make new ones wait for the deletion.

    A DELETE waits for the sends' FOR KEY SHARE, but a new send's FOR KEY SHARE does not wait
    behind the DELETE: under overlapping sends the deletion of a busy account could wait for
    ever. PostgreSQL's lock manager queues a shared request behind a waiting exclusive one, so
    the deletion takes the account's advisory lock exclusively, which every send takes shared.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_account_key(user_id)])


def _concerned_user_ids(message: Message) -> list[int]:
    if message.conversation_id is not None:
        return chat_selectors.participant_ids(conversation_id=message.conversation_id)
    return [message.sender_id, message.receiver_id]


def _invalidate_lists(message: Message, user_ids: Iterable[int] | None = None) -> None:
    cache.bump_users(user_ids if user_ids is not None else _concerned_user_ids(message))
    if message.conversation_id is not None:
        cache.bump_conversation(message.conversation_id)


def message_send(
    *, sender: User, receiver: User, content: str, parent_message: Message | None = None
) -> Message:
    """Send a direct message. The post_save receiver schedules its notification."""
    message = Message(
        sender=sender, receiver=receiver, content=content, parent_message=parent_message
    )
    row = NewRow(message)  # save()'s work before its INSERT, done before the write lock
    with transaction.atomic():
        _lock_live_users(sender.pk, receiver.pk)
        row.insert()
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
    message = Message(
        sender=sender, conversation=conversation, content=content, parent_message=parent_message
    )
    row = NewRow(message)
    with transaction.atomic():
        _lock_live_users(sender.pk)
        row.insert()
        ids = participant_ids
        if ids is None:
            ids = chat_selectors.participant_ids(conversation_id=conversation.pk)
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
    """Delete a message; everybody who saw it learns so from the worker (`message.deleted`)."""
    message_id = message.pk
    with transaction.atomic():
        user_ids = _concerned_user_ids(message)
        _invalidate_lists(message, user_ids)
        payload = {
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "user_ids": sorted(set(user_ids)),
        }
        outbox_enqueue(task=DELETE_TASK, payload=payload)
        message.delete()
        _forget_edits([message_id])


def _announce_read(message_id: int, user_id: int) -> None:
    """Tell the reader's other devices (`message.read`, in the marking transaction)."""
    message = Message.objects.for_list().filter(pk=message_id).first()
    if message is not None:
        body = shapes.message_body(message, read=True)
        live_publish([Event(user_id, MESSAGE_READ, body)])


def message_mark_read(*, message: Message, user: User) -> None:
    """Mark a received message read for `user`, and its notification with it. Idempotent."""
    with transaction.atomic():
        if MessageRead.objects.mark(message_id=message.pk, user_id=user.pk):
            _announce_read(message.pk, user.pk)


def notification_mark_read(*, notification: Notification) -> None:
    """Mark a notification read, and the message it is about with it. Idempotent."""
    with transaction.atomic():
        user_id, message_id = notification.user_id, notification.message_id
        if MessageRead.objects.mark(message_id=message_id, user_id=user_id):
            _announce_read(message_id, user_id)


# --- Events recorded by the signal receivers (messaging/signals.py) -------------------------


def notifications_schedule(*, message: Message) -> OutboxEvent:
    """A new message: its recipients get notifications (tasks/notifications.py)."""
    return outbox_enqueue(task=NOTIFY_TASK, payload={"message_id": message.pk})


def _current_for_edit(message: Message) -> tuple[str, int, Any, int | None] | None:
    """The stored content, edit count, edit time and editor, under the row lock when in a
    transaction."""
    current = Message.objects.filter(pk=message.pk)
    if connection.in_atomic_block:
        current = current.select_for_update()
    return current.values_list("content", "edit_count", "edited_at", "edited_by_id").first()


def message_edit_capture(*, message: Message, update_fields: Iterable[str] | None) -> None:
    """Before a content change is written, capture the old content (tasks/history.py).

    The current row is read under its lock, so concurrent edits are serialized and each one
    archives exactly the version it replaced, numbered in order (`edit_count`). Edits saved by
    any means (API, admin, shell) are archived.
    """
    if message._state.adding or message.pk is None:
        return
    if update_fields is not None and "content" not in update_fields:
        return
    row = _current_for_edit(message)
    if row is None or row[0] == message.content:
        return
    old_content, edit_count, last_edited_at, last_editor_id = row
    message.edit_count = edit_count + 1
    message.edited = True
    if message.edited_at is None or message.edited_at == last_edited_at:
        message.edited_at = timezone.now()  # an edit from the admin or the shell
        if message.edited_by_id is None or message.edited_by_id == last_editor_id:
            message.edited_by_id = message.sender_id  # only the sender edits, unless told
    if update_fields is not None:  # a partial save would not write the fields set above
        Message.objects.filter(pk=message.pk).update(
            edit_count=message.edit_count,
            edited=True,
            edited_at=message.edited_at,
            edited_by_id=message.edited_by_id,
        )
    payload = {
        "message_id": message.pk,
        "revision": message.edit_count,
        "old_content": old_content,
        "edited_by_id": message.edited_by_id,
        "edited_at": message.edited_at.isoformat(),
    }
    outbox_enqueue(task=ARCHIVE_TASK, payload=payload, key=f"message:{message.pk}")


def edit_event_redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """An edit's event without the old text, once the history row holds it (or the message is
    gone): the outbox keeps processed events for a day, message content must not stay there."""
    return {key: value for key, value in payload.items() if key != "old_content"}


def _forget_edits(message_ids: Iterable[int]) -> None:
    """The pending edits of deleted messages have nothing left to archive: drop their text."""
    keys = [f"message:{pk}" for pk in message_ids]
    outbox_discard(task=ARCHIVE_TASK, keys=keys, redact=edit_event_redacted)


def user_data_purge_schedule(*, user_id: int) -> OutboxEvent:
    """An account is gone (API, admin or shell): purge its data (tasks/cleanup.py), and hide
    whatever it wrote from everybody's cached lists at once."""
    cache.bump_all()
    return outbox_enqueue(task=PURGE_TASK, payload={"user_id": user_id}, key=f"user:{user_id}")


def membership_changed(*, instance, pk_set, instance_is_user: bool, action: str) -> None:
    """Invalidate the cached lists of whoever joined or left, and of the conversations; record
    who joined or left each conversation, for the worker to tell them (`conversation.added`,
    `conversation.removed`).

    `instance` is the conversation (`conversation.participants.add(...)`), or the user when the
    change came from the user's side (`user.conversations.add(...)`).
    """
    if instance_is_user:
        conversation_ids = pk_set
        if conversation_ids is None:  # pre_clear: every conversation the user is in
            ids_of = chat_selectors.conversation_ids_of(user_id=instance.pk)
            conversation_ids = list(ids_of.values_list("conversation_id", flat=True))
        cache.bump_users([instance.pk])
        changes = {cid: [instance.pk] for cid in conversation_ids}
    else:
        users = pk_set
        if users is None:  # pre_clear: every participant
            users = chat_selectors.participant_ids(conversation_id=instance.pk)
        cache.bump_users(list(users))
        changes = {instance.pk: list(users)} if users else {}
    side = "added" if action == "post_add" else "removed"
    for conversation_id, user_ids in changes.items():
        cache.bump_conversation(conversation_id)
        payload = {"conversation_id": conversation_id, side: sorted(user_ids)}
        outbox_enqueue(task=MEMBERSHIP_TASK, payload=payload)


# --- Background work (called by the tasks in tasks/) ----------------------------------------


# A message as the worker reads it: the lists' row (shapes.MESSAGE_ROW) without the reader's
# read state, which is each recipient's own. The worker's reads are compiled once per number of
# messages (PreparedRows): building and compiling these querysets was most of a round's CPU.
Audience = list[tuple[dict[str, Any], list[int]]]
AUDIENCE_ROW = tuple(column for column in shapes.MESSAGE_ROW if column != "viewer_read")


def _visible_rows(**ids: int):
    messages = Message.objects.visible().filter(pk__in=list(ids.values()))
    return messages.order_by("pk").values(*AUDIENCE_ROW)


def _messages_with_audience(message_ids: Iterable[int]) -> Audience:
    """Visible messages (rows), oldest first, each with everyone who sees it (sender first)."""
    ids = sorted(set(message_ids))
    messages = list(PreparedRows(Message, _visible_rows, id_params(ids))) if ids else []
    conversation_ids = {m["conversation_id"] for m in messages if m["conversation_id"] is not None}
    members = {}
    if conversation_ids:
        members = chat_selectors.members_by_conversation(conversation_ids=conversation_ids)
    audience = []
    for message in messages:
        sender_id = message["sender_id"]
        if message["conversation_id"] is None:
            users = [message["receiver_id"]]
        else:
            users = members.get(message["conversation_id"], [])
        audience.append((message, [sender_id, *(u for u in users if u != sender_id)]))
    return audience


def _reads_of(**ids: int):
    return MessageRead.objects.filter(message_id__in=list(ids.values())).values(
        "message_id", "user_id"
    )


def _read_marks(message_ids: list[int]) -> set[tuple[int, int]]:
    if not message_ids:
        return set()
    rows = PreparedRows(MessageRead, _reads_of, id_params(sorted(set(message_ids))))
    return {(row["message_id"], row["user_id"]) for row in rows}


def _message_events(
    kind: str, audience: Audience, reads: set[tuple[int, int]] | None = None
) -> list[Event]:
    """One `kind` event per (message, user who sees it), the body as that user's REST view."""
    if reads is None:
        reads = _read_marks([m["id"] for m, _ in audience])
    zone = timezone.get_current_timezone()
    return [
        Event(
            user_id,
            kind,
            shapes.message_row_body(
                {**m, "viewer_read": user_id == m["sender_id"] or (m["id"], user_id) in reads},
                zone,
            ),
        )
        for m, users in audience
        for user_id in users
    ]


# Rows per INSERT of notifications (five bound parameters each; SQLite allows 32,766).
NOTIFICATION_CHUNK = 1_000


def _insert_notifications(pairs: list[tuple[int, int]], now) -> list[dict[str, Any]]:
    """Insert a notification for each (user, message) that has none; return the new rows.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING per chunk (SQLite 3.35+, PostgreSQL, as the
    outbox's claim and live's seqs): the ids come back with the insert, where `bulk_create`
    with `ignore_conflicts` returns none and a SELECT had to follow, under the write lock.
    """
    ops = connection.ops
    table = ops.quote_name(Notification._meta.db_table)
    columns = ", ".join(ops.quote_name(c) for c in ("user_id", "message_id", "created_at", "read"))
    created_at = ops.adapt_datetimefield_value(now)
    rows: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), NOTIFICATION_CHUNK):
            chunk = pairs[start : start + NOTIFICATION_CHUNK]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608
                f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(chunk))} "
                "ON CONFLICT (user_id, message_id) DO NOTHING RETURNING id, user_id, message_id",
                [
                    x
                    for user_id, message_id in chunk
                    for x in (user_id, message_id, created_at, False)
                ],
            )
            rows += [
                {"id": pk, "user_id": user_id, "message_id": message_id}
                for pk, user_id, message_id in cursor.fetchall()
            ]
    rows.sort(key=lambda row: row["id"])
    return [{**row, "created_at": now, "read": False, "read_at": None} for row in rows]


def notification_create_for_messages(*, message_ids: Iterable[int]) -> int:
    """Create one notification per recipient of each message; return how many rows were asked.

    In the same transaction, every user who sees a message gets `message.created` in their live
    log (the sender too: their other devices), and each recipient `notification.created`.
    Called once per outbox event (the drain marks it processed in this transaction); a repeat
    finds the (user, message) unique constraint and creates no rows. Messages that are gone, or
    whose sender's account is deleted, get none.
    """
    audience = _messages_with_audience(message_ids)
    return _notify(audience, _message_events(MESSAGE_CREATED, audience))


def _visible_with_reads(**ids: int):
    """The messages of `ids` still visible, each with who has read it (a row per read mark)."""
    messages = Message.objects.visible().filter(pk__in=list(ids.values()))
    return messages.values("pk", "reads__user_id")


def notifications_prepare(*, message_ids: Iterable[int]) -> Callable[[Iterable[int]], int]:
    """`notification_create_for_messages` in two steps, for a drain that reads before it writes
    (outbox_drain's `prepare`): this reads the messages, their audiences and read marks and
    builds the live events, outside any transaction; the function it returns, called in the
    write transaction with the ids of the messages whose events it claimed, checks again what
    may have changed in between (a message deleted or its sender's account, a read mark) and
    writes the rows.
    """
    audience = _messages_with_audience(message_ids)
    reads = _read_marks([m["id"] for m, _ in audience])
    events = _message_events(MESSAGE_CREATED, audience, reads)

    def write(claimed_ids: Iterable[int]) -> int:
        wanted = set(claimed_ids)
        claimed = [m["id"] for m, _ in audience if m["id"] in wanted]
        rows = (
            list(PreparedRows(Message, _visible_with_reads, id_params(claimed))) if claimed else []
        )
        still = {row["pk"] for row in rows}
        current_reads = {
            (row["pk"], row["reads__user_id"]) for row in rows if row["reads__user_id"] is not None
        }
        current = [(m, users) for m, users in audience if m["id"] in still]
        if current_reads == {(m, u) for m, u in reads if m in still}:
            kept = [e for e in events if e.data["id"] in still]
        else:
            kept = _message_events(MESSAGE_CREATED, current, current_reads)
        return _notify(current, kept)

    return write


def _notify(audience: Audience, events: list[Event]) -> int:
    """The notification rows of these messages for everyone but their senders, and the live
    events (`events`: their `message.created`) with `notification.created` for each row made
    (a notification that already existed was announced when it was made)."""
    pairs = [(user_id, message["id"]) for message, users in audience for user_id in users[1:]]
    created = _insert_notifications(pairs, timezone.now())
    cache.bump_notifications(row["user_id"] for row in created)  # after the worker's commit
    bodies = {e.data["id"]: e.data for e in events}
    notified = [
        Event(
            row["user_id"],
            NOTIFICATION_CREATED,
            shapes.notification_body(row, bodies[row["message_id"]]),
        )
        for row in created
    ]
    live_publish([*events, *notified])
    return len(pairs)


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
    # Everyone who sees an edited message gets its current state (`message.updated`).
    live_publish(_message_events(MESSAGE_UPDATED, _messages_with_audience(alive)))
    return len(rows)


def message_delete_announce(*, deletions: Iterable[dict[str, Any]]) -> int:
    """Tell everyone who saw a deleted message (`message.deleted`); return how many events."""
    events = [
        Event(
            user_id, MESSAGE_DELETED, {"id": d["message_id"], "conversation": d["conversation_id"]}
        )
        for d in deletions
        for user_id in d["user_ids"]
    ]
    live_publish(events)
    return len(events)


def conversation_membership_announce(*, changes: Iterable[dict[str, Any]]) -> int:
    """Tell whoever joined a conversation (`conversation.added`, the conversation as the REST API
    shows it, as it is now) or left one (`conversation.removed`); return how many events."""
    changes = list(changes)
    ids = {c["conversation_id"] for c in changes}
    conversations = {c.pk: c for c in Conversation.objects.filter(pk__in=ids)}
    members = chat_selectors.participants_by_conversation(conversation_ids=ids)
    events = []
    for change in changes:
        cid = change["conversation_id"]
        current = {pk for pk, _ in members.get(cid, [])}
        if cid in conversations:
            body = shapes.conversation_body(conversations[cid], members.get(cid, []))
            events += [
                Event(u, CONVERSATION_ADDED, body) for u in change.get("added", []) if u in current
            ]
        events += [
            Event(u, CONVERSATION_REMOVED, {"id": cid})
            for u in change.get("removed", [])
            if u not in current
        ]
    live_publish(events)
    return len(events)


def _delete_rows(model, ids: list[int]) -> None:
    model.objects.filter(pk__in=ids).delete()  # no signals, no relations: one DELETE


def _delete_messages(model, ids: list[int]) -> None:
    """Delete messages with what hangs on them in six set-based statements.

    Django's collector would load every row and ask each relation in turn (about 17 statements
    a batch); the relations are known here, so they are handled directly. Messages have no
    delete signals to skip.
    """
    Message.objects.filter(parent_message_id__in=ids).update(parent_message=None)
    for related in (Notification, MessageRead, MessageHistory):
        related.objects.filter(message_id__in=ids).delete()
    deleted = Message.objects.filter(pk__in=ids)
    deleted._raw_delete(deleted.db)
    _forget_edits(ids)


def _purge_batches(queryset, delete, *, batch_size: int, on_batch: Callable[[int], None]) -> None:
    """Delete the rows of `queryset` one transaction of at most `batch_size` rows at a time."""
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return
            delete(queryset.model, ids)
        on_batch(len(ids))
        # The pause lets other writers in between transactions; inside an outer transaction
        # (the inline mode) there is nobody to let in.
        if settings.PURGE_BATCH_PAUSE_SECONDS and not connection.in_atomic_block:
            time.sleep(settings.PURGE_BATCH_PAUSE_SECONDS)


def user_data_purge(
    *, user_id: int, batch_size: int | None = None, progress: Progress | None = None
) -> dict[str, int]:
    """Remove what a deleted account leaves behind, one bounded transaction at a time.

    Removes the messages the user sent (direct and group), the direct messages they received,
    with those messages' notifications, read marks and histories; the user's own notifications
    and read marks; and their conversation memberships. Replies by others under a removed
    message stay and lose only their parent link; messages and history rows the user edited but
    others sent lose their editor. Idempotent and resumable: a second run, or a run after a
    crash, removes what is left.
    """
    if User.objects.filter(pk=user_id).exists():
        return {"done": 0, "total": 0}  # the account exists again? never touch a live user
    # The user's own rows first: deleting the messages first would cascade some of them away
    # uncounted, and `done` would never reach `total`.
    steps = (
        (Notification.objects.filter(user_id=user_id), _delete_rows),
        (MessageRead.objects.filter(user_id=user_id), _delete_rows),
        (Message.objects.filter(Q(sender_id=user_id) | Q(receiver_id=user_id)), _delete_messages),
    )
    counter = {"done": 0, "total": sum(queryset.count() for queryset, _ in steps)}

    def on_batch(rows: int) -> None:
        counter["done"] += rows
        if progress:
            progress(counter["done"], counter["total"])

    on_batch(0)
    for queryset, delete in steps:
        _purge_batches(
            queryset, delete, batch_size=batch_size or settings.PURGE_BATCH_SIZE, on_batch=on_batch
        )
    _purge_the_rest(user_id)
    return counter


def _purge_the_rest(user_id: int) -> None:
    """What the batches leave: the account's edits of others' messages, its memberships and its
    live event log."""
    with transaction.atomic():
        # Messages and history rows it edited but did not send stay, without an editor.
        Message.objects.filter(edited_by_id=user_id).update(edited_by=None)
        MessageHistory.objects.filter(edited_by_id=user_id).update(edited_by=None)
        membership_remove_all(user_id=user_id)
        live_forget_user(user_id=user_id)
        cache.bump_all()


def idempotency_prune(*, older_than_hours: int | None = None) -> int:
    """Forget Idempotency-Key answers past their lifetime; return how many."""
    hours = settings.IDEMPOTENCY_KEY_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]
