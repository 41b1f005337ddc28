"""Task: purge a deleted account's data in bounded batches, reporting progress."""

from celery_app import app
from messaging.services import user_data_purge as purge
from tasks.base import TASK_OPTIONS
from tasks.models import OutboxEvent
from tasks.outbox import outbox_heartbeat, outbox_mark_processed

PURGE_OPTIONS = {**TASK_OPTIONS, "soft_time_limit": 30 * 60, "time_limit": 31 * 60}


@app.task(name="user_data_purge", bind=True, **PURGE_OPTIONS)
def user_data_purge(self, event_id: str) -> dict[str, int]:
    """Purge the user named by the event. Progress `{done, total}` shows in the task state."""
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.processed_at is not None:
        return {"done": 0, "total": 0}

    def progress(done: int, total: int) -> None:
        outbox_heartbeat(event_id)
        if self.request.id and not self.request.is_eager:
            self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    result = purge(user_id=event.payload["user_id"], progress=progress)
    outbox_mark_processed([event_id])
    return result
