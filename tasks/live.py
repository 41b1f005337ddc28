"""Tasks that fan events out to users' live logs: deleted messages and membership changes.

(New messages and edits are announced by the notification and history tasks, in the
transactions that create their notifications and history rows.)
"""

from celery_app import app
from messaging import services
from outbox.models import OutboxEvent
from outbox.services import outbox_drain_all
from tasks.base import TASK_OPTIONS


def _deletions(events: list[OutboxEvent]) -> None:
    services.message_delete_announce(deletions=[e.payload for e in events])


def _memberships(events: list[OutboxEvent]) -> None:
    services.conversation_membership_announce(changes=[e.payload for e in events])


@app.task(name=services.DELETE_TASK, **TASK_OPTIONS)
def message_delete_announce(event_id: str | None = None) -> int:
    """Announce this deletion and other pending ones in one transaction; return the count."""
    return outbox_drain_all(task=services.DELETE_TASK, first_id=event_id, handler=_deletions)


@app.task(name=services.MEMBERSHIP_TASK, **TASK_OPTIONS)
def conversation_membership_announce(event_id: str | None = None) -> int:
    """Announce these membership changes and other pending ones; return the count."""
    return outbox_drain_all(task=services.MEMBERSHIP_TASK, first_id=event_id, handler=_memberships)
