"""Task: create the notifications of new messages, draining pending events in batches."""

from celery_app import app
from messaging import services
from outbox.models import OutboxEvent
from outbox.services import outbox_drain_all
from tasks.base import TASK_OPTIONS

NAME = services.NOTIFY_TASK


def _handle(events: list[OutboxEvent]) -> None:
    services.notification_create_for_messages(message_ids=[e.payload["message_id"] for e in events])


def _prepare(events: list[OutboxEvent]):
    """`_handle` in two steps where reading before the write transaction pays (SQLite): read and
    build now; the returned function writes the rows of the events the drain claimed."""
    write = services.notifications_prepare(message_ids=[e.payload["message_id"] for e in events])
    return lambda claimed: write(e.payload["message_id"] for e in claimed)


@app.task(name=NAME, **TASK_OPTIONS)
def notification_create_for_messages(event_id: str | None = None) -> int:
    """Process this event and up to OUTBOX_BATCH_SIZE - 1 other pending ones; return the count."""
    return outbox_drain_all(task=NAME, first_id=event_id, handler=_handle, prepare=_prepare)
