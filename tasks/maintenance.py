"""Periodic tasks run by Celery beat: resend stuck outbox events, prune processed ones, and
delete expired refresh tokens."""

from django.core.management import call_command

from celery_app import app
from outbox import services as outbox
from tasks.base import TASK_OPTIONS


@app.task(name="outbox_relay", **TASK_OPTIONS)
def outbox_relay() -> int:
    return outbox.outbox_relay()


@app.task(name="outbox_prune", **TASK_OPTIONS)
def outbox_prune() -> int:
    return outbox.outbox_prune()


@app.task(name="flush_expired_tokens", **TASK_OPTIONS)
def flush_expired_tokens() -> None:
    """Delete expired refresh tokens and their blacklist entries (simplejwt's command)."""
    call_command("flushexpiredtokens")
