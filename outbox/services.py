"""Write, publish, drain, relay and prune outbox events (`outbox.selectors` reads them).

An event is written in the caller's transaction (`outbox_enqueue`), so it exists exactly when the
change it describes does. After commit it is published to the broker; if the broker is down the
publish fails fast and the event waits for the relay (`outbox_relay`, run by beat and by
`manage.py outbox_relay`). Workers drain pending events in batches and mark them processed in the
same transaction as their effects, so each event's effect lands once; a duplicate delivery finds
the event processed and does nothing. A task may name a `redact` function: a processed event
keeps only what it leaves of the payload (no content outlives its processing).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from core.caching import cache_is_per_process
from core.locks import advisory_key
from core.prepared import NewRow
from outbox.models import OutboxEvent

logger = logging.getLogger(__name__)

Redact = Callable[[dict[str, Any]], dict[str, Any]]
Prepare = Callable[[list[OutboxEvent]], Callable[[list[OutboxEvent]], None]]


def outbox_enqueue(*, task: str, payload: dict[str, Any], key: str = "") -> OutboxEvent:
    """Record an event for the Celery task named `task` in the current transaction, and
    publish it once the transaction commits. The task receives `event_id` and reads the payload.

    In the inline mode (CELERY_TASK_ALWAYS_EAGER, for tests written against the original
    project) the task runs at once instead, in this transaction, and nothing is published.
    """
    event = OutboxEvent(task=task, payload=payload, key=key)
    event.set_first_attempt()  # what save() adds; NewRow holds the write lock for less
    NewRow(event).insert()
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        _handle_inline(event)
    else:
        transaction.on_commit(lambda: _publish_after_commit(event))
    return event


def _handle_inline(event: OutboxEvent) -> None:
    """Run the event's task here, in the caller's transaction (Celery's eager `apply`)."""
    from celery_app import app

    if event.task not in app.tasks:
        app.loader.import_default_modules()  # the task modules listed in celery_app.py
    app.tasks[event.task].apply(
        kwargs={"event_id": event.task_id}, task_id=event.task_id, throw=True
    )


# The request does not wait for the broker: after commit, the publish is handed to one thread
# per process (a Celery publish costs about 1 ms, more than the database writes of a message).
# Nothing is lost if the process dies first: the event is in the database and the relay sends
# it. One publisher per process id, so that a fork (gunicorn, prefork) gets its own thread.
# The coalescing mark (below) is checked before the hand-over, in the committing thread: one SET
# NX to the cache, which the request has just used for its list versions anyway. Most events of
# a busy system stop there; waking the thread for each cost a POST about 0.2 ms more of CPU than
# the check itself (measured in process: ours / naive POST CPU 1.22 with the hand-over, 1.14-1.16
# with the check first).
RETRY_SECONDS = 1.0
UNSENT_MAX = 100_000


class _Publisher:
    """Publishes events after commit in a background thread.

    While the broker is down it keeps the events it could not send (the newest UNSENT_MAX; the
    relay resends any others after the grace period) and tries again every RETRY_SECONDS, so
    they go out within about a second of the broker's return. It never touches the database.
    """

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-publish")
        self.unsent: deque[OutboxEvent] = deque(maxlen=UNSENT_MAX)
        self.retry_timer: threading.Timer | None = None

    def submit(self, event: OutboxEvent) -> None:
        if not self.unsent and _already_queued(event.task):
            return  # a task of this name that has not started yet will drain this event too
        self.executor.submit(self._send, event)

    def flush(self, timeout: float) -> None:
        """Wait until every event handed over so far was tried, the kept ones once more."""
        if self.unsent:
            self.executor.submit(self._retry)
        self.executor.submit(lambda: None).result(timeout=timeout)

    def forget_unsent(self) -> int:
        """Drop the kept events (the relay resends them after the grace period)."""
        count = len(self.unsent)
        self.unsent.clear()
        return count

    def _send(self, event: OutboxEvent) -> None:
        if self.unsent:  # the broker is down: wait behind the others, in order
            self.unsent.append(event)
        elif not outbox_publish(event):
            _forget_queued(event.task)
            self.unsent.append(event)
            self._retry_later()

    def _retry(self) -> None:
        self.retry_timer = None
        while self.unsent:
            if not outbox_publish(self.unsent[0]):
                self._retry_later()
                return
            self.unsent.popleft()
        logger.info("outbox: the broker is back; every event kept meanwhile is published")

    def _retry_later(self) -> None:
        if self.retry_timer is None:
            self.retry_timer = threading.Timer(
                RETRY_SECONDS, lambda: self.executor.submit(self._retry)
            )
            self.retry_timer.daemon = True
            self.retry_timer.start()


# Coalescing. A task listed in OUTBOX_COALESCED_TASKS drains every pending event of its name, so
# while one such task is queued or draining, publishing another for each new event only makes
# work (and a result row) for the worker. The publisher marks the task name queued in the shared
# cache (add: one process wins) and skips the publish when it already is; the task clears the
# mark when a round finds nothing, then looks for pending events again (outbox_drain_all), so an
# event whose publish was skipped is always read. While the task drains it extends the mark
# every MARK_REFRESH_SECONDS; the mark expires after COALESCE_SECONDS in case its task is lost
# (the relay resends what a lost task left), and a worker clears every mark when it (re)connects
# to the broker: a broker that restarted may have lost the tasks the marks stood for. Not with a
# per-process cache: the worker could not clear a mark it cannot see.
COALESCE_SECONDS = 3
MARK_REFRESH_SECONDS = 1.0  # a draining task extends its mark this often


def _queued_key(task: str) -> str:
    return f"outbox:queued:{task}"


def _coalesced(task: str) -> bool:
    return task in settings.OUTBOX_COALESCED_TASKS and not cache_is_per_process()


def _already_queued(task: str) -> bool:
    if not _coalesced(task):
        return False
    try:
        return not cache.add(_queued_key(task), 1, timeout=COALESCE_SECONDS)
    except Exception as exc:  # the cache is down: publish, as without coalescing
        logger.warning("outbox: cannot coalesce %s (%s)", task, exc)
        return False


def _hold_mark(task: str) -> None:
    """Set (or extend) the mark of a task that is draining: a drain outlasts COALESCE_SECONDS
    under load, and an expired mark let each new event publish a second, concurrent drain (two
    worker processes taking half-size batches, each round its own write transaction)."""
    if _coalesced(task):
        try:
            cache.set(_queued_key(task), 1, timeout=COALESCE_SECONDS)
        except Exception as exc:  # the cache is down: new events publish, as without coalescing
            logger.warning("outbox: cannot hold the mark of %s (%s)", task, exc)


def outbox_forget_queued() -> None:
    """Clear every coalescing mark (the queue was purged, or the broker lost it)."""
    for task in settings.OUTBOX_COALESCED_TASKS:
        _forget_queued(task)


def _forget_queued(task: str) -> None:
    if _coalesced(task):
        try:
            cache.delete(_queued_key(task))
        except Exception as exc:  # the mark expires by itself
            logger.warning("outbox: cannot clear the mark of %s (%s)", task, exc)


_publisher: _Publisher | None = None
_publisher_pid: int | None = None
_publisher_lock = threading.Lock()


def _process_publisher() -> _Publisher:
    global _publisher, _publisher_pid
    with _publisher_lock:
        if _publisher is None or _publisher_pid != os.getpid():
            _publisher, _publisher_pid = _Publisher(), os.getpid()
        return _publisher


def _publish_after_commit(event: OutboxEvent) -> None:
    if settings.OUTBOX_PUBLISH_IN_BACKGROUND:
        _process_publisher().submit(event)
    else:
        outbox_publish(event)


def outbox_flush(timeout: float = 10.0) -> None:
    """Wait until every publish handed to the background thread so far has been attempted."""
    if _publisher is not None and _publisher_pid == os.getpid():
        _publisher.flush(timeout)


def outbox_forget_unsent() -> int:
    """Drop the events this process keeps for a broker that was down (tests start afresh)."""
    if _publisher is None or _publisher_pid != os.getpid():
        return 0
    _publisher.flush(10.0)
    return _publisher.forget_unsent()


def outbox_load_publisher() -> None:
    """Load the broker's client now, as a server starts, rather than in the first request that
    publishes: about 100 ms of imports (Celery's producer, kombu's transport), during which the
    publishing thread held the GIL and that process's requests stalled. Nothing connects yet: a
    broker that is down delays nothing."""
    from celery_app import app

    app.connection_for_write().transport  # noqa: B018 - imports the transport's module


def outbox_publish(event: OutboxEvent) -> bool:
    """Send the event's task to the broker. Never raises: a failure leaves it for a retry."""
    from celery_app import app

    try:
        app.send_task(
            event.task,
            kwargs={"event_id": event.task_id},
            task_id=event.task_id,
            retry=False,
        )
    except Exception as exc:  # the broker is unreachable: sent again later
        logger.warning("outbox: could not publish %s (%s); it will be sent again", event, exc)
        return False
    return True


def outbox_drain(
    *,
    task: str,
    first_id: str | None,
    handler: Callable[[list[OutboxEvent]], None],
    prepare: Prepare | None = None,
    batch_size: int | None = None,
    redact: Redact | None = None,
) -> int:
    """Process up to `batch_size` pending events of `task` in one transaction; return how many.

    The event named by `first_id` is taken first; the rest are the oldest pending ones that no
    other worker holds (`SELECT ... FOR UPDATE SKIP LOCKED` where the database has it) and that
    are not dead. Batching is what lets one worker keep up with a burst: many events, one insert,
    one commit. If the batch fails, the named event is tried alone, so that one bad event cannot
    hold back the others (it fails on its own, and dies after OUTBOX_MAX_ATTEMPTS). With
    `redact`, the events keep only what it leaves of their payloads, written in the same
    transaction that marks them processed.

    `handler` does all the work in the transaction. A task may also give `prepare`, which reads
    first (`_drain_prepared`); it is used where OUTBOX_READ_BEFORE_WRITE says so (SQLite).
    """
    batch_size = batch_size or settings.OUTBOX_BATCH_SIZE
    drain, work = _drain_batch, handler
    if prepare is not None and settings.OUTBOX_READ_BEFORE_WRITE:
        drain, work = _drain_prepared, prepare
    try:
        return drain(task, first_id, work, batch_size, redact)
    except Exception:
        if batch_size == 1 or not first_id:
            raise
        logger.warning("outbox: a batch of %s failed; trying event %s alone", task, first_id)
        return drain(task, first_id, work, 1, redact)


# A draining task goes round at most this many times before it leaves the rest to new tasks,
# and pauses after a round that found events, so that the next finds a batch: DRAIN_PAUSE_SECONDS
# per event the round took, at most DRAIN_PAUSE_MAX_SECONDS. At a trickle a round takes one event
# and the next comes 5 ms later; under load the rounds grow, and with them the pauses, until a
# round holds what came in 50 ms: the worker's cost per event falls (a round costs about 4 ms
# of CPU whatever it holds) and leaves the cores to the web processes. The pause grows only
# where the rate nears what one worker process keeps up with (at 50 messages/s a round still
# takes one event and pauses 5 ms); there a notification waits up to 50 ms more. Measured on
# `make run`'s shape (bench/baselines.py's POSTs, SQLite), worker CPU per POST: 1.3-1.5 ms with
# a fixed 5 ms; about 1.0 growing to 30 ms, 0.55 to 50 ms, 0.45-0.63 to 100 ms. With NewRow's
# shorter web transactions, our POST's p50 over the naive one's: 1.08 at 30 ms, 1.0-1.1 at 50
# ms, 0.92-1.02 at 100 ms; but at 100 ms a notification's p99 at 200 messages/s (section 9)
# passed 100 ms (117 ms on SQLite, 172 ms on PostgreSQL). When a
# round finds nothing it keeps looking (a plain read every pause, no transaction) for this long
# before it clears its mark and ends: under steady traffic the next event is milliseconds away,
# and without the wait each one published a task of its own (50 messages/s on PostgreSQL: one
# task per message, 392 of them queued after 30 s, each storing its result rows).
DRAIN_ROUNDS = 100
DRAIN_PAUSE_SECONDS = 0.005
DRAIN_PAUSE_MAX_SECONDS = 0.05
DRAIN_LINGER_SECONDS = 0.025


def outbox_drain_all(*, task: str, first_id: str | None, handler, prepare=None, redact=None) -> int:
    """Drain until nothing of `task` is pending; return how many events were processed.

    While it drains, the coalescing mark stands, so the events committed meanwhile publish no
    task of their own: the next round takes them. When a round finds nothing, the task waits up
    to DRAIN_LINGER_SECONDS for another event; if none comes it clears the mark and looks once
    more: what committed before the clearing is found now; what commits after it publishes a
    new task. Under steady traffic one task so keeps up with many events, in batches, instead
    of one task (its overhead, its result rows, its own write transaction) per few events.
    """
    total, held = 0, -MARK_REFRESH_SECONDS
    for _ in range(DRAIN_ROUNDS):
        if time.monotonic() - held >= MARK_REFRESH_SECONDS:
            _hold_mark(task)
            held = time.monotonic()
        batch_size = settings.OUTBOX_BATCH_SIZE
        taken = outbox_drain(
            task=task,
            first_id=first_id,
            handler=handler,
            prepare=prepare,
            batch_size=batch_size,
            redact=redact,
        )
        first_id, total = None, total + taken
        if taken:
            if taken < batch_size:
                time.sleep(min(DRAIN_PAUSE_SECONDS * taken, DRAIN_PAUSE_MAX_SECONDS))
            continue
        if _pending_soon(task):
            continue
        _forget_queued(task)
        if not _pending(task) or _already_queued(task):
            return total  # nothing left, or a task queued since the clearing drains it
        held = time.monotonic()  # the mark is this task's again
    _hand_over(task)
    return total


def _hand_over(task: str) -> None:
    """After DRAIN_ROUNDS, leave what is still pending to a new task, published now.

    Clearing the mark alone left it to the next event's publish: when no event came after (the
    end of a burst), the rest waited for the relay's grace period. The new task carries the
    oldest pending event's id; if another task was queued meanwhile (the mark is taken), that
    one drains it instead; if the broker refuses, the relay resends it.
    """
    _forget_queued(task)
    oldest = (
        OutboxEvent.objects.filter(task=task, processed_at__isnull=True, dead_at__isnull=True)
        .order_by("created_at")
        .first()
    )
    if oldest is not None and not _already_queued(task) and not outbox_publish(oldest):
        _forget_queued(task)


def _pending_soon(task: str) -> bool:
    """Whether an event of `task` becomes pending within DRAIN_LINGER_SECONDS (the mark still
    stands meanwhile, so its publish is skipped and this task takes it)."""
    deadline = time.monotonic() + DRAIN_LINGER_SECONDS
    while time.monotonic() < deadline:
        time.sleep(DRAIN_PAUSE_SECONDS)
        if _pending(task):
            return True
    return False


def _pending(task: str) -> bool:
    return OutboxEvent.objects.filter(
        task=task, processed_at__isnull=True, dead_at__isnull=True
    ).exists()


def _drain_batch(task: str, first_id: str | None, handler, batch_size: int, redact) -> int:
    with transaction.atomic():
        if task in settings.OUTBOX_COALESCED_TASKS:
            _one_drainer_at_a_time(task)
        events = _pending_batch(task, first_id, batch_size, lock=True)
        if not events:
            return 0
        handler(events)
        _mark_processed(events, redact)
    return len(events)


def _pending_batch(task: str, first_id: str | None, batch_size: int, *, lock: bool):
    """The event named `first_id` if pending, then the oldest other pending ones that are not
    dead, `batch_size` in all; with `lock`, only those no other worker holds, locked."""
    pending = OutboxEvent.objects.filter(task=task, processed_at__isnull=True)
    if lock:
        pending = pending.select_for_update(skip_locked=True)
    events = list(pending.filter(pk=first_id)) if first_id else []
    if len(events) < batch_size:
        others = pending.filter(dead_at__isnull=True).exclude(pk__in=[e.pk for e in events])
        events += list(others.order_by("created_at")[: batch_size - len(events)])
    return events


# Reads first, then a short write transaction. A task that gives `prepare` instead of `handler`
# has `prepare(events)` run outside any transaction: it reads what the events need and builds
# the rows; the `write(events)` it returns runs in the transaction that claims them. On SQLite a
# transaction holds the database's one write lock from its start, so a handler's reads and
# Python work there (about 7 ms for a round of notifications) kept every web process that wanted
# to write waiting; `write` should only check what may have changed since and insert.
def _drain_prepared(task: str, first_id: str | None, prepare, batch_size: int, redact) -> int:
    """Read a batch and `prepare` it, then claim what is still pending and write it."""
    events = _pending_batch(task, first_id, batch_size, lock=False)
    if not events:
        return 0
    write = prepare(events)
    with transaction.atomic():
        if task in settings.OUTBOX_COALESCED_TASKS:
            _one_drainer_at_a_time(task)
        claimed = _claim(events)
        if claimed:
            write(claimed)
            if redact is not None:
                _mark_processed(claimed, redact)
    return len(claimed)


def _claim(events: list[OutboxEvent]) -> list[OutboxEvent]:
    """Mark those of `events` that are still pending processed (a drain that ran meanwhile may
    have processed some), in the current transaction; return them.

    One UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL, as live's seq allocation): it runs under
    the write lock. On PostgreSQL it waits for a row another drain holds, then skips it if that
    drain processed it.
    """
    ops = connection.ops
    pk = OutboxEvent._meta.pk
    table = ops.quote_name(OutboxEvent._meta.db_table)
    ids = [pk.get_db_prep_value(e.pk, connection) for e in events]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET processed_at = %s, dead_at = NULL "  # noqa: S608
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND processed_at IS NULL RETURNING id",
            [ops.adapt_datetimefield_value(timezone.now()), *ids],
        )
        done = {pk.to_python(row[0]) for row in cursor.fetchall()}
    return [e for e in events if e.pk in done]


def _one_drainer_at_a_time(task: str) -> None:
    """Wait until no other transaction drains `task` (PostgreSQL; SQLite's writers are one at a
    time anyway).

    Two drains of one coalesced task can overlap: a task published just as the mark was
    cleared, or resent by the relay. With SKIP LOCKED alone the newer could take the newer
    events and commit first, and a user's live log would show a later message before an earlier
    one. Held to the end of the transaction, this lock keeps the batches in order.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", advisory_key(f"drain:{task}"))


def _mark_processed(events: list[OutboxEvent], redact: Redact | None) -> None:
    now = timezone.now()
    if redact is None:
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            processed_at=now, dead_at=None
        )
        return
    for event in events:
        event.payload = redact(event.payload)
        event.processed_at, event.dead_at = now, None
    OutboxEvent.objects.bulk_update(events, ["payload", "processed_at", "dead_at"])


def outbox_discard(*, task: str, keys: Iterable[str], redact: Redact) -> int:
    """Mark the pending events of `task` with these keys processed without running them, as
    what they describe is gone, keeping only what `redact` leaves of their payloads; return how
    many."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update().filter(
                task=task, key__in=list(keys), processed_at__isnull=True
            )
        )
        if events:
            _mark_processed(events, redact)
    return len(events)


def outbox_mark_processed(event_ids: Iterable[str]) -> None:
    OutboxEvent.objects.filter(pk__in=list(event_ids), processed_at__isnull=True).update(
        processed_at=timezone.now()
    )


def outbox_heartbeat(event_id: str) -> None:
    """A long task (the purge) says it is still working, so the relay does not resend it."""
    now = timezone.now()
    OutboxEvent.objects.filter(pk=event_id).update(last_sent_at=now, next_attempt_at=now + _grace())


def _grace(seconds: int | None = None) -> timedelta:
    return timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS if seconds is None else seconds)


def _next_attempt(now, grace: timedelta) -> Case:
    """After the n-th resend wait grace x 2^n (at most x 64): a slow worker is not flooded.

    Decided per row in the one UPDATE that records the resends."""
    steps = [When(attempts=n, then=Value(now + grace * 2 ** (n + 1))) for n in range(6)]
    return Case(*steps, default=Value(now + grace * 64))


def _claim_due(*, now, grace: timedelta, limit: int) -> tuple[list[OutboxEvent], int]:
    """Take the due events (at most `limit`, earliest due first) and record their resend in one
    UPDATE, before publishing, so that two relays running at once never take the same event.
    Events resent OUTBOX_MAX_ATTEMPTS times already become dead instead."""
    with transaction.atomic():
        due = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True, dead_at__isnull=True, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .only("id", "task", "attempts")[:limit]
        )
        dying = [e.pk for e in due if e.attempts >= settings.OUTBOX_MAX_ATTEMPTS]
        live = [e for e in due if e.attempts < settings.OUTBOX_MAX_ATTEMPTS]
        if dying:
            OutboxEvent.objects.filter(pk__in=dying).update(dead_at=now)
            logger.error(
                "outbox: %d events failed %d times and are dead",
                len(dying),
                settings.OUTBOX_MAX_ATTEMPTS,
            )
        OutboxEvent.objects.filter(pk__in=[e.pk for e in live]).update(
            attempts=F("attempts") + 1, last_sent_at=now, next_attempt_at=_next_attempt(now, grace)
        )
    return live, len(dying)


def outbox_relay(*, grace_seconds: int | None = None, limit: int = 1_000) -> int:
    """Publish again the due pending events; return how many were sent.

    Due: never published successfully (at once), or not done `grace` after the last send (a
    worker died with it), backing off after each resend. If the broker is down, the first failed
    publish stops the run and the events not sent stay due.
    """
    grace = _grace(grace_seconds)
    events, _ = _claim_due(now=timezone.now(), grace=grace, limit=limit)
    for sent, event in enumerate(events):
        if not outbox_publish(event):
            _unclaim([e.pk for e in events[sent:]])
            return sent
    if events:
        logger.info("outbox: relayed %d pending events", len(events))
    return len(events)


def _unclaim(event_ids: list) -> None:
    """The broker is down: these claimed events were not sent; due at once, attempt not spent."""
    OutboxEvent.objects.filter(pk__in=event_ids).update(
        attempts=F("attempts") - 1, next_attempt_at=timezone.now()
    )


def outbox_retry_dead(*, limit: int = 10_000) -> int:
    """Give dead events a fresh start (after their cause is fixed): due now, attempts 0."""
    ids = list(
        OutboxEvent.objects.filter(processed_at__isnull=True, dead_at__isnull=False).values_list(
            "pk", flat=True
        )[:limit]
    )
    return OutboxEvent.objects.filter(pk__in=ids).update(
        dead_at=None, attempts=0, next_attempt_at=timezone.now()
    )


def outbox_prune(*, older_than_hours: int | None = None) -> int:
    """Delete processed events older than the retention period; return how many."""
    hours = settings.OUTBOX_RETENTION_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = OutboxEvent.objects.filter(processed_at__lte=cutoff).delete()
    return deleted
