"""The web client in a real browser: two users in two headless Chromium contexts against a real
server process (uvicorn), a real worker and Redis. A sends; B's page shows it within a second.
B goes offline; A sends three more; B comes back and shows all three, once each, in order.

Needs Debian's `chromium` (/usr/bin/chromium), like tests/monitoring/test_browser.py.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright
from rest_framework_simplejwt.tokens import AccessToken

from chats.services import conversation_create
from testkit import ROOT, ServerProcess
from tests.monitoring.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]
SCREENSHOTS = ROOT / "screenshots"


def _log_in(page, base: str, username: str, conversation_id: int) -> None:
    page.goto(f"{base}/app/")
    page.fill("#login input[name=username]", username)
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    expect(page.locator("#status")).to_have_text("live")
    page.click(f"[data-chat='{conversation_id}']")
    expect(page.locator("#chat-title")).not_to_have_text("All messages")


def _send(page, text: str) -> None:
    page.fill("#compose input[name=content]", text)
    page.click("#compose button[type=submit]")


def _edit(base: str, token: str, message_id: int, content: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/messaging/messages/{message_id}/",
        data=json.dumps({"content": content}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def test_two_users_see_each_other_live_and_catch_up_after_going_offline(
    celery_worker_process, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    conversation = conversation_create(creator=alice, participants=[bob])
    token = str(AccessToken.for_user(alice))
    server = ServerProcess(env={"LIVE_HEARTBEAT_SECONDS": "5"}).start()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            a_context, b_context = browser.new_context(), browser.new_context()
            a, b = a_context.new_page(), b_context.new_page()
            for page in (a, b):
                page.set_default_timeout(15_000)
            _log_in(a, server.base, "alice", conversation.pk)
            _log_in(b, server.base, "bob", conversation.pk)
            b_messages = b.locator("#messages .message .content")

            started = time.monotonic()
            _send(a, "hello bob")
            expect(b_messages).to_have_text(["hello bob"], timeout=1_000)
            shown_after = time.monotonic() - started
            expect(b.locator("#messages .message.unread")).to_have_count(1)

            b_context.set_offline(True)
            expect(b.locator("#status")).to_have_text("offline")
            for count, text in enumerate(("one", "two", "three"), start=2):
                _send(a, text)
                expect(a.locator("#messages .message .content")).to_have_count(count)
            time.sleep(1)  # the worker has published them: B, offline, got nothing
            expect(b_messages).to_have_text(["hello bob"])
            b.screenshot(path=SCREENSHOTS / "live-offline.png", full_page=True)

            b_context.set_offline(False)
            expect(b.locator("#status")).to_have_text("live")
            expect(b_messages).to_have_text(["hello bob", "one", "two", "three"])

            first_id = int(b.locator("#messages .message").first.get_attribute("data-id"))
            _edit(server.base, token, first_id, "hello bob (edited)")
            expect(b_messages.first).to_have_text("hello bob (edited)")
            b.locator("#messages .message").first.click()  # B reads it: no longer unread
            expect(b.locator("#messages .message.unread")).to_have_count(3)
            b.screenshot(path=SCREENSHOTS / "live-back-online.png", full_page=True)
            browser.close()
    finally:
        server.stop()
    assert shown_after < 1.0, f"B saw A's message after {shown_after:.2f}s"
