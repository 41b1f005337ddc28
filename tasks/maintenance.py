"""Periodic tasks run by Celery beat: resend stuck outbox events, prune what has expired."""

from celery_app import app
from live import services as live
from messaging import services as messaging
from outbox import services as outbox
from tasks.base import TASK_OPTIONS


@app.task(name="outbox_relay", **TASK_OPTIONS)
def outbox_relay() -> int:
    return outbox.outbox_relay()


@app.task(name="outbox_prune", **TASK_OPTIONS)
def outbox_prune() -> int:
    return outbox.outbox_prune()


@app.task(name="live_prune", **TASK_OPTIONS)
def live_prune() -> int:
    return live.live_prune()


@app.task(name="idempotency_prune", **TASK_OPTIONS)
def idempotency_prune() -> int:
    return messaging.idempotency_prune()
