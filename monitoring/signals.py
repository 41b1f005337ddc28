"""Celery signal receivers: what each task attempt stores beside its result."""

from celery.signals import task_prerun


def task_record_retries(sender=None, task=None, **kwargs) -> None:
    """Store the attempt's retry count in TaskResult.meta (django-celery-results keeps
    `request.meta` there), so `/api/tasks/{id}/` can show how often a task was retried."""
    if task is None:
        return
    request = task.request
    request.meta = {**(getattr(request, "meta", None) or {}), "retries": request.retries or 0}


def connect() -> None:
    task_prerun.connect(task_record_retries, weak=False, dispatch_uid="monitoring.record_retries")
