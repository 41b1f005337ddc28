"""Task: create the notifications of new messages, draining pending events in batches."""

from celery_app import app
from messaging.services import notification_create_for_messages as create_for_messages
from tasks.base import TASK_OPTIONS
from tasks.models import OutboxEvent
from tasks.outbox import outbox_drain


def _handle(events: list[OutboxEvent]) -> None:
    create_for_messages(message_ids=[e.payload["message_id"] for e in events])


@app.task(name="notification_create_for_messages", **TASK_OPTIONS)
def notification_create_for_messages(event_id: str | None = None) -> int:
    """Process this event and up to OUTBOX_BATCH_SIZE - 1 other pending ones; return the count."""
    return outbox_drain(kind=OutboxEvent.Kind.MESSAGE_CREATED, first_id=event_id, handler=_handle)
