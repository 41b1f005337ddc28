"""The Celery app is wired from Django settings and registers our tasks by explicit name."""

from celery_app import app

EXPECTED = {
    "notification_create_for_messages",
    "message_history_archive",
    "user_data_purge",
    "outbox_relay",
    "outbox_prune",
    "task_results_cleanup",
}


def test_task_names_are_registered():
    app.loader.import_default_modules()
    assert set(app.tasks) >= EXPECTED


def test_tasks_ack_late_and_survive_worker_loss():
    app.loader.import_default_modules()
    for name in EXPECTED:
        task = app.tasks[name]
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
        assert task.time_limit and task.soft_time_limit, name
        assert task.max_retries and task.max_retries > 0, name


def test_app_reads_django_settings_with_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_backend == "django-db"
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is True
    assert app.conf.task_track_started is True


def test_django_project_imports_the_app():
    import messaging_app

    assert messaging_app.celery_app is app


def test_latency_and_bulk_work_go_to_queues_of_their_own():
    """Notifications, history and the relay never wait behind a purge or a prune."""
    from django.conf import settings

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
    import os

    from django.conf import settings

    assert app.conf.task_default_queue == f"test-{os.getpid()}"
    assert f"test-{os.getpid()}-bulk" == settings.BULK_QUEUE
    queues = {f"test-{os.getpid()}", settings.BULK_QUEUE}
    assert {q.name for q in app.conf.task_queues} == queues
