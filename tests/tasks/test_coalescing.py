"""Coalescing with a real worker on a shared cache: a burst publishes few tasks, loses nothing."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult

from messaging import services
from messaging.models import Notification
from outbox.models import OutboxEvent
from testkit import WorkerProcess, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_burst_publishes_one_task_and_every_notification_lands_once(
    shared_cache, make_user, tmp_path
):
    """200 messages while no worker runs: the first publish marks the task queued and the other
    199 are not published; the one task drains them all, batch after batch."""
    senders, receiver = [make_user() for _ in range(4)], make_user()
    for i in range(200):
        services.message_send(sender=senders[i % 4], receiver=receiver, content=f"m{i}")
    worker = WorkerProcess(log_path=tmp_path / "worker.log").wait_ready()  # shares the cache
    try:
        wait_until(lambda: Notification.objects.count() == 200, timeout=60)
        wait_until(lambda: not OutboxEvent.objects.filter(processed_at__isnull=True).exists())
    finally:
        worker.stop()
    assert Notification.objects.values("message_id").distinct().count() == 200
    assert TaskResult.objects.filter(task_name="notification_create_for_messages").count() == 1
