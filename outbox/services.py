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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outbox.models import OutboxEvent

logger = logging.getLogger(__name__)

Redact = Callable[[dict[str, Any]], dict[str, Any]]


def outbox_enqueue(*, task: str, payload: dict[str, Any], key: str = "") -> OutboxEvent:
    """Record an event for the Celery task named `task` in the current transaction, and
    publish it once the transaction commits. The task receives `event_id` and reads the payload.

    In the inline mode (CELERY_TASK_ALWAYS_EAGER, for tests written against the original
    project) the task runs at once instead, in this transaction, and nothing is published.
    """
    event = OutboxEvent.objects.create(task=task, payload=payload, key=key)
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
# it. One executor per process id, so that a fork (gunicorn, prefork) gets its own thread.
_publisher: ThreadPoolExecutor | None = None
_publisher_pid: int | None = None
_publisher_lock = threading.Lock()


def _publisher_executor() -> ThreadPoolExecutor:
    global _publisher, _publisher_pid
    with _publisher_lock:
        if _publisher is None or _publisher_pid != os.getpid():
            _publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-publish")
            _publisher_pid = os.getpid()
        return _publisher


def _publish_after_commit(event: OutboxEvent) -> None:
    if settings.OUTBOX_PUBLISH_IN_BACKGROUND:
        _publisher_executor().submit(outbox_publish, event)
    else:
        outbox_publish(event)


def outbox_flush(timeout: float = 10.0) -> None:
    """Wait until every publish handed to the background thread so far has been attempted."""
    if _publisher is not None and _publisher_pid == os.getpid():
        _publisher.submit(lambda: None).result(timeout=timeout)


def outbox_publish(event: OutboxEvent) -> bool:
    """Send the event's task to the broker. Never raises: a failure leaves it for the relay."""
    from celery_app import app

    try:
        app.send_task(
            event.task,
            kwargs={"event_id": event.task_id},
            task_id=event.task_id,
            retry=False,
        )
    except Exception as exc:  # the broker is unreachable: the relay sends it later
        logger.warning("outbox: could not publish %s (%s); the relay will resend it", event, exc)
        return False
    return True


def outbox_drain(
    *,
    task: str,
    first_id: str | None,
    handler: Callable[[list[OutboxEvent]], None],
    batch_size: int | None = None,
    redact: Redact | None = None,
) -> int:
    """Process up to `batch_size` pending events of `task` in one transaction; return how many.

    The event named by `first_id` is taken first; the rest are the oldest pending ones that no
    other worker holds (`SELECT ... FOR UPDATE SKIP LOCKED` where the database has it). Batching
    is what lets one worker keep up with a burst: many events, one insert, one commit. With
    `redact`, the events keep only what it leaves of their payloads, written in the same
    transaction that marks them processed.
    """
    batch_size = batch_size or settings.OUTBOX_BATCH_SIZE
    with transaction.atomic():
        pending = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
            task=task, processed_at__isnull=True
        )
        events = list(pending.filter(pk=first_id)) if first_id else []
        if len(events) < batch_size:
            others = pending.exclude(pk__in=[e.pk for e in events]).order_by("created_at")
            events += list(others[: batch_size - len(events)])
        if not events:
            return 0
        handler(events)
        _mark_processed(events, redact)
    return len(events)


def _mark_processed(events: list[OutboxEvent], redact: Redact | None) -> None:
    now = timezone.now()
    if redact is None:
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=now)
        return
    for event in events:
        event.payload = redact(event.payload)
        event.processed_at = now
    OutboxEvent.objects.bulk_update(events, ["payload", "processed_at"])


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
    OutboxEvent.objects.filter(pk=event_id).update(last_sent_at=timezone.now())


def _due(event: OutboxEvent, *, now, grace: int) -> bool:
    # Wait grace, 2 x grace, 4 x grace, ... between resends: a slow worker is not flooded.
    last = event.last_sent_at or event.created_at
    return now - last >= timedelta(seconds=grace * 2 ** min(event.attempts, 6))


def outbox_relay(*, grace_seconds: int | None = None, limit: int = 1_000) -> int:
    """Publish again the events still pending after the grace period; return how many were sent."""
    grace = settings.OUTBOX_RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    now = timezone.now()
    cutoff = now - timedelta(seconds=grace)
    stale = (
        OutboxEvent.objects.filter(processed_at__isnull=True, created_at__lte=cutoff)
        .filter(Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=cutoff))
        .order_by("created_at")[:limit]
    )
    sent = 0
    for event in (e for e in stale if _due(e, now=now, grace=grace)):
        if not outbox_publish(event):
            break  # the broker is still down; try again on the next run
        OutboxEvent.objects.filter(pk=event.pk).update(
            last_sent_at=timezone.now(), attempts=F("attempts") + 1
        )
        sent += 1
    if sent:
        logger.info("outbox: relayed %d pending events", sent)
    return sent


def outbox_prune(*, older_than_hours: int | None = None) -> int:
    """Delete processed events older than the retention period; return how many."""
    hours = settings.OUTBOX_RETENTION_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = OutboxEvent.objects.filter(processed_at__lte=cutoff).delete()
    return deleted
