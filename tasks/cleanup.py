"""Task: purge a deleted account's data in bounded batches, reporting progress."""

from celery_app import app
from messaging import services
from outbox.models import OutboxEvent
from outbox.services import outbox_heartbeat, outbox_mark_processed
from tasks.base import TASK_OPTIONS

PURGE_OPTIONS = {**TASK_OPTIONS, "soft_time_limit": 30 * 60, "time_limit": 31 * 60}


@app.task(name=services.PURGE_TASK, bind=True, **PURGE_OPTIONS)
def user_data_purge(self, event_id: str) -> dict[str, int]:
    """Purge the user named by the event. Progress `{done, total}` shows in the task state."""
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.processed_at is not None:
        return {"done": 0, "total": 0}

    def progress(done: int, total: int) -> None:
        outbox_heartbeat(event_id)
        if self.request.id and not self.request.is_eager:
            self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    result = services.user_data_purge(user_id=event.payload["user_id"], progress=progress)
    outbox_mark_processed([event_id])
    return result
