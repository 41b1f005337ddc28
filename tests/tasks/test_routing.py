"""Queues: latency-sensitive work and bulk work go to queues of their own (settings'
task_queues), and each test session has its own names for both."""

import os

from django.conf import settings

from celery_app import app


def test_latency_and_bulk_work_go_to_queues_of_their_own():
    """Notifications, history and the relay never wait behind a purge or a prune."""
    latency, bulk = app.conf.task_default_queue, settings.BULK_QUEUE
    assert latency != bulk
    router = app.amqp.router
    for name in ("notification_create_for_messages", "message_history_archive", "outbox_relay"):
        assert router.route({}, name)["queue"].name == latency, name
    for name in ("user_data_purge", "outbox_prune", "task_results_cleanup"):
        assert router.route({}, name)["queue"].name == bulk, name
    assert router.route({}, "some_future_task")["queue"].name == latency


def test_each_test_session_has_queues_of_its_own():
    """Suites side by side on one Redis never take each other's tasks, on any queue."""
    assert app.conf.task_default_queue == f"test-{os.getpid()}"
    assert f"test-{os.getpid()}-bulk" == settings.BULK_QUEUE
    queues = {f"test-{os.getpid()}", settings.BULK_QUEUE}
    assert {q.name for q in app.conf.task_queues} == queues
