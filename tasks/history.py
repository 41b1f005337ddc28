"""Task: archive the old versions of edited messages as MessageHistory rows."""

from celery_app import app
from messaging.services import message_history_archive as archive
from tasks.base import TASK_OPTIONS
from tasks.models import OutboxEvent
from tasks.outbox import outbox_drain


def _handle(events: list[OutboxEvent]) -> None:
    archive(edits=[e.payload for e in events])


@app.task(name="message_history_archive", **TASK_OPTIONS)
def message_history_archive(event_id: str | None = None) -> int:
    """Archive this edit and other pending ones in one transaction; return the count."""
    return outbox_drain(kind=OutboxEvent.Kind.MESSAGE_EDITED, first_id=event_id, handler=_handle)
