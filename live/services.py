"""Write events into users' logs in the caller's transaction; publish them once it commits.

`live_publish` numbers each user's events from the user's cursor row (one upsert for all the
users of a call, in user order, so that two writers never wait for each other in a cycle) and
inserts them. After commit one PUBLISH carries them all on one channel; every stream process
picks the users it serves. A rolled-back transaction publishes nothing. A publish that fails
(Redis down) loses nothing: streams catch up from the table after a reconnect, and sweep it
every LIVE_SWEEP_SECONDS anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from live.models import LiveCursor, LiveEvent, LiveTicket

logger = logging.getLogger(__name__)

# The stream closes when its user's log receives this (written when the account is deleted).
ACCOUNT_DELETED = "account.deleted"
ALLOCATE_CHUNK = 1_000  # users per upsert statement (two bound parameters each)


class Event(NamedTuple):
    user_id: int
    type: str
    data: dict[str, Any]


class Logged(NamedTuple):
    """An event as written into its user's log (a LiveEvent row, without building one)."""

    user_id: int
    seq: int
    type: str
    data: dict[str, Any]


def _allocate(counts: dict[int, int]) -> dict[int, int]:
    """Reserve counts[u] seqs for each user u; return each user's last seq, now locked.

    One INSERT ... ON CONFLICT DO UPDATE ... RETURNING per chunk (SQLite 3.35+, PostgreSQL):
    it creates missing cursor rows and advances existing ones. PostgreSQL locks the rows in the
    order of the VALUES list, which is sorted by user.
    """
    table = connection.ops.quote_name(LiveCursor._meta.db_table)
    users = sorted(counts)
    last: dict[int, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(users), ALLOCATE_CHUNK):
            chunk = users[start : start + ALLOCATE_CHUNK]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            params = [x for user_id in chunk for x in (user_id, counts[user_id])]
            cursor.execute(
                f"INSERT INTO {table} (user_id, last_seq) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (user_id) DO UPDATE SET last_seq = {table}.last_seq "
                f"+ EXCLUDED.last_seq RETURNING user_id, last_seq",
                params,
            )
            last.update(cursor.fetchall())
    return last


def live_publish(events: Iterable[Event]) -> list[Logged]:
    """Append these events to their users' logs now, and publish them after commit.

    Must run inside the transaction of the change the events describe (it opens one if there
    is none). A user's events get consecutive seqs in the order given.
    """
    events = list(events)
    if not events:
        return []
    now = timezone.now()
    # No savepoint inside the caller's transaction: the events stand or fall with its change.
    with transaction.atomic(savepoint=False):
        counts = Counter(e.user_id for e in events)
        last = _allocate(counts)
        next_seq = {user_id: last[user_id] - n + 1 for user_id, n in counts.items()}
        rows = []
        for event in events:
            seq = next_seq[event.user_id]
            next_seq[event.user_id] = seq + 1
            rows.append(Logged(event.user_id, seq, event.type, event.data))
        _insert(rows, now)
        # Encoded after commit: on SQLite the transaction holds the one write lock.
        transaction.on_commit(lambda: publish_rollback_unsafe(_payload(rows)))
    return rows


def _insert(rows: list[Logged], now: datetime) -> None:
    """INSERT the rows with one executemany, without their ids, which nothing reads (a user's
    log is addressed by seq).

    Not `bulk_create`, nor LiveEvent instances: model instances, per-field preparation and
    RETURNING cost about 0.1 ms a row, and on SQLite this runs under the database's one write
    lock, which the web processes wait for while the worker writes a round of events.
    """
    ops = connection.ops
    created_at = ops.adapt_datetimefield_value(now)
    table = ops.quote_name(LiveEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (user_id, seq, type, data, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (r.user_id, r.seq, r.type, ops.adapt_json_value(r.data, None), created_at)
                for r in rows
            ],
        )


def _payload(rows: list[Logged]) -> str:
    """One message for the whole transaction; past LIVE_PUBLISH_MAX_BYTES the bodies are left
    out and each stream reads them from the table (a huge fan-out stays one small message)."""
    full = json.dumps({"e": [[r.user_id, r.seq, r.type, r.data] for r in rows]}, default=str)
    if len(full) <= settings.LIVE_PUBLISH_MAX_BYTES:
        return full
    return json.dumps({"e": [[r.user_id, r.seq, r.type, None] for r in rows]})


_client = None
_client_key: tuple[int, str] | None = None


def _redis():
    """One client per process (a fork gets its own) and URL."""
    global _client, _client_key
    key = (os.getpid(), settings.LIVE_REDIS_URL)
    if _client is None or _client_key != key:
        import redis

        _client = redis.Redis.from_url(
            settings.LIVE_REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.25
        )
        _client_key = key
    return _client


def publish_rollback_unsafe(payload: str) -> bool:
    """PUBLISH now, whatever the transaction does: only for on_commit callbacks and tests."""
    if not settings.LIVE_REDIS_URL:
        return False  # polling mode: the streams read the table
    try:
        _redis().publish(settings.LIVE_CHANNEL, payload)
    except Exception as exc:  # the streams catch up from the table after Redis comes back
        logger.warning("live: could not publish (%s); streams will catch up from the table", exc)
        return False
    return True


def live_user_deleted(*, user_id: int) -> None:
    """An account is gone: its open streams close (they watch for this event)."""
    live_publish([Event(user_id, ACCOUNT_DELETED, {"id": user_id})])


def live_forget_user(*, user_id: int) -> None:
    """Remove a deleted account's log, cursor and tickets (called by its data purge)."""
    with transaction.atomic():
        LiveEvent.objects.filter(user_id=user_id).delete()
        LiveTicket.objects.filter(user_id=user_id).delete()
        LiveCursor.objects.filter(user_id=user_id).delete()


# --- Tickets --------------------------------------------------------------------------------


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def live_ticket_issue(*, user_id: int, stream_until: datetime) -> tuple[str, datetime]:
    """A new single-use ticket for opening one stream, and when it stops being accepted."""
    ticket = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(seconds=settings.LIVE_TICKET_SECONDS)
    LiveTicket.objects.create(
        digest=_digest(ticket), user_id=user_id, expires_at=expires_at, stream_until=stream_until
    )
    return ticket, expires_at


def live_ticket_redeem(*, ticket: str) -> tuple[int, datetime] | None:
    """The user and stream deadline of a valid ticket, which is used up; None otherwise.

    Two concurrent redemptions of one ticket: only one DELETE finds the row.
    """
    digest = _digest(ticket)
    row = (
        LiveTicket.objects.filter(digest=digest, expires_at__gt=timezone.now())
        .values_list("user_id", "stream_until")
        .first()
    )
    if row is None or LiveTicket.objects.filter(digest=digest).delete()[0] != 1:
        return None
    return row


def live_prune(*, older_than_hours: int | None = None, batch_size: int = 10_000) -> int:
    """Delete events past the replay window and expired tickets; return how many events."""
    hours = settings.LIVE_RETENTION_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    LiveTicket.objects.filter(expires_at__lte=timezone.now()).delete()
    deleted = 0
    while True:
        ids = list(
            LiveEvent.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += LiveEvent.objects.filter(pk__in=ids).delete()[0]
