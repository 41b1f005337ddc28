"""Periodic tasks run by Celery beat: resend stuck outbox events, prune what has expired
(processed outbox events, live event logs, Idempotency-Key answers, task results, refresh
tokens). Each runs alone (tasks/periodic.py): a second beat's copy skips."""

from django.core.management import call_command

from celery_app import app
from live import services as live
from messaging import services as messaging
from outbox import services as outbox
from tasks.base import TASK_OPTIONS
from tasks.periodic import run_alone

# The results cleanup deletes a day's results at once: a longer limit than the other tasks.
CLEANUP_OPTIONS = {**TASK_OPTIONS, "soft_time_limit": 15 * 60, "time_limit": 16 * 60}


@app.task(name="outbox_relay", **TASK_OPTIONS)
def outbox_relay() -> int | None:
    """Resend the due events; None when another relay is running (it sends them)."""
    with run_alone("outbox_relay", seconds=TASK_OPTIONS["time_limit"]) as alone:
        return outbox.outbox_relay() if alone else None


@app.task(name="outbox_prune", **TASK_OPTIONS)
def outbox_prune() -> int | None:
    with run_alone("outbox_prune", seconds=TASK_OPTIONS["time_limit"]) as alone:
        return outbox.outbox_prune() if alone else None


@app.task(name="task_results_cleanup", **CLEANUP_OPTIONS)
def task_results_cleanup() -> bool | None:
    """Celery's `celery.backend_cleanup` (results older than CELERY_RESULT_EXPIRES), alone."""
    with run_alone("task_results_cleanup", seconds=CLEANUP_OPTIONS["time_limit"]) as alone:
        if alone:
            app.backend.cleanup()
        return True if alone else None


@app.task(name="flush_expired_tokens", **TASK_OPTIONS)
def flush_expired_tokens() -> bool | None:
    """Delete expired refresh tokens and their blacklist entries (simplejwt's command), alone."""
    with run_alone("flush_expired_tokens", seconds=TASK_OPTIONS["time_limit"]) as alone:
        if alone:
            call_command("flushexpiredtokens")
        return True if alone else None


@app.task(name="live_prune", **TASK_OPTIONS)
def live_prune() -> int | None:
    with run_alone("live_prune", seconds=TASK_OPTIONS["time_limit"]) as alone:
        return live.live_prune() if alone else None


@app.task(name="idempotency_prune", **TASK_OPTIONS)
def idempotency_prune() -> int | None:
    with run_alone("idempotency_prune", seconds=TASK_OPTIONS["time_limit"]) as alone:
        return messaging.idempotency_prune() if alone else None
