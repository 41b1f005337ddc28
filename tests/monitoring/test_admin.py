"""The admin shows task results and periodic tasks; beat's schedule cleans old results daily."""

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from django_celery_results.models import TaskResult

from celery_app import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for_superuser(make_user):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_admin_lists_task_results(admin_client_for_superuser):
    TaskResult.objects.create(task_id="t-1", task_name="user_data_purge", status="SUCCESS")
    response = admin_client_for_superuser.get("/admin/django_celery_results/taskresult/")
    assert response.status_code == 200
    assert b"user_data_purge" in response.content
    detail = admin_client_for_superuser.get(
        f"/admin/django_celery_results/taskresult/{TaskResult.objects.get().pk}/change/"
    )
    assert detail.status_code == 200


@pytest.mark.django_db(transaction=True)  # the scheduler closes the database connection
def test_admin_lists_periodic_tasks(admin_client_for_superuser):
    DatabaseScheduler(app=app)  # what beat does at start: the schedule becomes rows
    response = admin_client_for_superuser.get("/admin/django_celery_beat/periodictask/")
    assert response.status_code == 200
    assert b"celery.backend_cleanup" in response.content
    assert b"outbox-relay" in response.content


def test_admin_pages_need_staff(make_user):
    client = Client()
    client.force_login(make_user())
    response = client.get("/admin/django_celery_results/taskresult/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_beat_schedule_holds_one_daily_result_cleanup():
    """django-celery-beat's scheduler turns the schedule into rows. Its own default cleanup
    entry (celery.backend_cleanup, which takes no lock) is replaced by ours under the same
    name, so there is exactly one, and it runs the locked task."""
    DatabaseScheduler(app=app)
    cleanup = PeriodicTask.objects.get(name="celery.backend_cleanup")
    assert cleanup.task == "task_results_cleanup"
    assert (cleanup.crontab.minute, cleanup.crontab.hour) == ("0", "4")
    assert cleanup.enabled
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"outbox_relay", "outbox_prune", "task_results_cleanup"} <= tasks
    assert "celery.backend_cleanup" not in tasks
