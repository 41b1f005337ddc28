"""Task: archive the old versions of edited messages as MessageHistory rows."""

from celery_app import app
from messaging import services
from outbox.models import OutboxEvent
from outbox.services import outbox_drain_all
from tasks.base import TASK_OPTIONS

NAME = services.ARCHIVE_TASK


def _handle(events: list[OutboxEvent]) -> None:
    services.message_history_archive(edits=[e.payload for e in events])


@app.task(name=NAME, **TASK_OPTIONS)
def message_history_archive(event_id: str | None = None) -> int:
    """Archive this edit and other pending ones in one transaction; return the count."""
    return outbox_drain_all(
        task=NAME, first_id=event_id, handler=_handle, redact=services.edit_event_redacted
    )
