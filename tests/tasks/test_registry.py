"""The Celery app is wired from Django settings and registers our tasks by explicit name."""

from celery_app import app

EXPECTED = {
    "notification_create_for_messages",
    "message_history_archive",
    "user_data_purge",
    "outbox_relay",
    "outbox_prune",
    "flush_expired_tokens",
    "task_results_cleanup",
    "message_delete_announce",
    "conversation_membership_announce",
    "live_prune",
    "idempotency_prune",
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


def test_beat_prunes_live_events_and_idempotency_answers():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"live_prune", "idempotency_prune"} <= tasks
