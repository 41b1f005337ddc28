"""Periodic tasks run by Celery beat: resend stuck outbox events, prune processed ones."""

from celery_app import app
from outbox import services as outbox
from tasks.base import TASK_OPTIONS


@app.task(name="outbox_relay", **TASK_OPTIONS)
def outbox_relay() -> int:
    return outbox.outbox_relay()


@app.task(name="outbox_prune", **TASK_OPTIONS)
def outbox_prune() -> int:
    return outbox.outbox_prune()
