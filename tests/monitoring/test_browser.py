"""A real browser: headless Chromium logs into the admin, finds our task, opens the API docs.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package; Playwright's
own browser download is not used. Screenshots land in screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.urls import reverse
from django_celery_results.models import TaskResult
from playwright.sync_api import expect, sync_playwright

from outbox.models import OutboxEvent
from testkit import ROOT, client_for, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets
SCREENSHOTS = ROOT / "screenshots"


@contextmanager
def chromium_page():
    """A page in headless Debian Chromium. Start it only after the test's ORM work: Django
    refuses database calls in a thread where Playwright's event loop runs."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_admin_shows_our_finished_task_and_docs_list_the_api(
    celery_worker_process, live_server, make_user, alice, bob
):
    # A real task of ours runs on the worker before the browser starts.
    make_user("root", is_staff=True, is_superuser=True)
    message_id = (
        client_for(alice)
        .post(reverse("message-list"), {"receiver": bob.pk, "content": "hi"}, format="json")
        .json()["id"]
    )
    task_id = OutboxEvent.objects.get(payload__message_id=message_id).task_id
    wait_until(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists())
    SCREENSHOTS.mkdir(exist_ok=True)
    worker = celery_worker_process.hostname

    with chromium_page() as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_celery_results/taskresult/")
        page.fill("#id_username", "root")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page).to_have_url(re.compile(r"/admin/django_celery_results/taskresult/$"))
        row = page.locator("#result_list tbody tr", has_text=task_id)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("notification_create_for_messages")
        expect(row).to_contain_text("SUCCESS")
        page.screenshot(path=SCREENSHOTS / "admin-task-results.png", full_page=True)

        row.locator("a").first.click()  # the task's own page: its worker and result
        expect(page.locator("#content")).to_contain_text(worker)
        page.screenshot(path=SCREENSHOTS / "admin-task-result.png", full_page=True)

        page.goto(f"{live_server.url}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Messaging API")
        for path in (
            "/api/messaging/messages/",
            "/api/tasks/",
            "/api/tasks/stats/",
            "/api/health/",
        ):
            expect(page.locator(f".opblock-summary-path[data-path='{path}']").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "api-docs.png", full_page=True)
