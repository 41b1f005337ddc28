"""The task monitoring API on stored task results: access, order, paging, filters, detail, stats."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from celery import signals
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult

from celery_app import app
from monitoring.views import parse_window
from testkit import client_for

pytestmark = pytest.mark.django_db


def make_result(
    task_id: str,
    *,
    name: str = "notification_create_for_messages",
    status: str = "SUCCESS",
    created_ago: float = 60.0,
    runtime: float | None = 1.0,
    result=None,
    **fields,
) -> TaskResult:
    """A stored result, created `created_ago` seconds ago, that ran for `runtime` seconds."""
    now = timezone.now()
    created = now - timedelta(seconds=created_ago)
    started = created if runtime is not None else None
    done = created + timedelta(seconds=runtime or 0)
    TaskResult.objects.create(
        task_id=task_id,
        task_name=name,
        status=status,
        content_type="application/json",
        content_encoding="utf-8",
        result=json.dumps(result),
        **fields,
    )
    # date_created and date_done are auto fields: set the times afterwards.
    TaskResult.objects.filter(task_id=task_id).update(
        date_created=created, date_started=started, date_done=done
    )
    return TaskResult.objects.get(task_id=task_id)


@pytest.fixture
def staff(make_user):
    return client_for(make_user(is_staff=True))


def test_anonymous_gets_401_and_non_staff_403(anon, alice):
    make_result("t-1")
    for url in (reverse("task-list"), reverse("task-detail", args=["t-1"]), reverse("task-stats")):
        assert anon.get(url).status_code == 401, url
        response = client_for(alice).get(url)
        assert response.status_code == 403, url
        assert "detail" in response.json()


def test_list_is_newest_first_and_cursor_paginated(staff, django_assert_max_num_queries):
    for i in range(7):
        make_result(f"t-{i}", created_ago=100 - i)  # t-6 is the newest
    seen, url = [], reverse("task-list") + "?page_size=3"
    with django_assert_max_num_queries(4):  # auth is JWT (no query); one page is one query
        page = staff.get(url).json()
    while True:
        seen += [row["task_id"] for row in page["results"]]
        if not page["next"]:
            break
        page = staff.get(page["next"]).json()
    assert seen == [f"t-{i}" for i in reversed(range(7))]


def test_list_query_count_does_not_grow(staff, django_assert_max_num_queries):
    for i in range(30):
        make_result(f"t-{i}")
    with django_assert_max_num_queries(2):
        response = staff.get(reverse("task-list") + "?page_size=30")
    assert len(response.json()["results"]) == 30


def test_filters_by_state_name_and_time(staff):
    make_result("ok-old", created_ago=7200)
    make_result("ok-new", created_ago=60)
    make_result("failed", status="FAILURE", created_ago=30)
    make_result("relay", name="outbox_relay", created_ago=10)
    make_result("retrying", status="RETRY", created_ago=20)

    def ids(query: str) -> set[str]:
        response = staff.get(reverse("task-list") + query)
        assert response.status_code == 200, response.content
        return {row["task_id"] for row in response.json()["results"]}

    assert ids("?state=FAILURE") == {"failed"}
    assert ids("?state=FAILURE&state=RETRY") == {"failed", "retrying"}
    assert ids("?task_name=outbox_relay") == {"relay"}
    assert ids("?task_name_contains=RELAY") == {"relay"}
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids("?created_after=" + since.replace("+", "%2B")) == {
        "ok-new",
        "failed",
        "relay",
        "retrying",
    }
    assert ids("?created_before=" + since.replace("+", "%2B")) == {"ok-old"}
    assert ids("?state=SUCCESS&created_after=" + since.replace("+", "%2B")) == {"ok-new", "relay"}


@pytest.mark.parametrize(
    "query", ["?state=NOPE", "?created_after=yesterday", "?done_before=2024-13-45T00:00:00Z"]
)
def test_bad_filter_values_answer_400_json(staff, query):
    response = staff.get(reverse("task-list") + query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()


def test_detail_of_a_failed_task_shows_error_traceback_and_retries(staff):
    make_result(
        "boom",
        status="FAILURE",
        runtime=2.5,
        result={"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"},
        traceback="Traceback (most recent call last):\n  ...\nValueError: bad\n",
        task_args=json.dumps("(1, 2)"),
        task_kwargs=json.dumps("{'event_id': 'abc'}"),
        worker="w1@host",
        meta=json.dumps({"children": [], "retries": 2}),
    )
    body = staff.get(reverse("task-detail", args=["boom"])).json()
    assert body["state"] == "FAILURE"
    assert body["result"]["exc_type"] == "ValueError"
    assert body["traceback"].endswith("ValueError: bad\n")
    assert body["args"] == "(1, 2)"
    assert body["kwargs"] == "{'event_id': 'abc'}"
    assert body["worker"] == "w1@host"
    assert body["retries"] == 2
    assert body["runtime_seconds"] == pytest.approx(2.5)
    assert body["progress"] is None


def test_detail_of_a_running_task_shows_progress(staff):
    make_result("purge", name="user_data_purge", status="PROGRESS", result={"done": 3, "total": 9})
    body = staff.get(reverse("task-detail", args=["purge"])).json()
    assert body["progress"] == {"done": 3, "total": 9}
    assert body["runtime_seconds"] is None  # still running
    listed = staff.get(reverse("task-list")).json()["results"]
    assert listed[0]["progress"] == {"done": 3, "total": 9}


def test_unknown_task_is_404_json(staff):
    response = staff.get(reverse("task-detail", args=["no-such-task"]))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_stats_counts_runtimes_and_failure_rate_over_the_window(staff):
    for i, runtime in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]):
        make_result(f"ok-{i}", runtime=runtime, created_ago=600)
    make_result("f-1", status="FAILURE", runtime=20, created_ago=300)
    make_result("f-2", name="user_data_purge", status="FAILURE", runtime=30, created_ago=300)
    make_result("running", status="PROGRESS", runtime=None, created_ago=5)
    make_result("old", runtime=1000, created_ago=3 * 3600)  # outside the default hour

    started = time.monotonic()
    response = staff.get(reverse("task-stats"))
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    body = response.json()
    assert body["window_seconds"] == 3600
    assert body["total"] == 13
    assert body["by_state"] == {"FAILURE": 2, "PROGRESS": 1, "SUCCESS": 10}
    assert body["by_task_name"] == {"notification_create_for_messages": 12, "user_data_purge": 1}
    # 12 finished runtimes: 1..10, 20, 30 (nearest rank: p50 is the 6th, p95 the 12th)
    assert body["runtime_seconds"] == {"count": 12, "p50": 6.0, "p95": 30.0}
    assert body["failure_rate"] == pytest.approx(2 / 12, abs=1e-4)
    assert body["broker"]["queue"] == app.conf.task_default_queue
    assert isinstance(body["broker"]["length"], int)
    assert body["broker"]["bulk_queue"] == settings.BULK_QUEUE
    assert isinstance(body["broker"]["bulk_length"], int)
    assert isinstance(body["workers"]["answering"], list)

    wide = staff.get(reverse("task-stats") + "?window=4h").json()
    assert wide["total"] == 14
    assert wide["runtime_seconds"]["p95"] == 1000.0
    narrow = staff.get(reverse("task-stats") + "?window=1m").json()
    assert narrow["by_state"] == {"PROGRESS": 1}
    assert narrow["runtime_seconds"] == {"count": 0, "p50": None, "p95": None}
    assert narrow["failure_rate"] is None


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(None, 3600), ("", 3600), ("900", 900), ("900s", 900), ("15m", 900), ("2h", 7200)],
)
def test_window_parses_seconds_minutes_and_hours(raw, seconds):
    assert parse_window(raw).total_seconds() == seconds


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "1.5h", "8d", "169h", "99999999"])
def test_bad_window_is_400(staff, raw):
    response = staff.get(reverse("task-stats"), {"window": raw})
    assert response.status_code == 400
    assert "window" in response.json()


def test_each_attempt_records_its_retry_count():
    """The task_prerun receiver puts the retry count where django-celery-results stores meta."""
    from tasks.maintenance import outbox_prune as task

    task.push_request(id="x", retries=3)
    try:
        signals.task_prerun.send(sender=task, task_id="x", task=task, args=(), kwargs={})
        assert task.request.meta == {"retries": 3}
    finally:
        task.pop_request()
