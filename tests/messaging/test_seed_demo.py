"""`manage.py seed_demo` creates a usable demo world through the services."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from chats.models import Conversation
from messaging.management.commands.seed_demo import DEMO_ADMIN, DEMO_PASSWORD, DEMO_USERNAMES
from messaging.models import Message, MessageRead
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def seed(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_seed_demo_creates_users_conversations_and_messages(anon):
    out, err = seed()

    users = User.objects.filter(username__in=DEMO_USERNAMES)
    assert users.count() == len(DEMO_USERNAMES) >= 3
    assert all(user.check_password(DEMO_PASSWORD) for user in users)
    conversations = Conversation.objects.all()
    assert 2 <= conversations.count() <= 5
    assert all(c.participants.count() >= 2 for c in conversations)

    messages = Message.objects.all()
    assert messages.count() == 300
    assert messages.filter(conversation__isnull=False).exists()
    assert messages.filter(receiver__isnull=False).exists()
    assert messages.filter(parent_message__isnull=False).count() >= 30
    assert messages.filter(parent_message__parent_message__isnull=False).exists()  # depth > 1
    assert messages.filter(edited=True).count() >= 10
    assert MessageRead.objects.exists()
    # Through the services: every message and every edit has its outbox event.
    assert OutboxEvent.objects.filter(task="notification_create_for_messages").count() == 300
    assert OutboxEvent.objects.filter(task="message_history_archive").count() >= 10
    # Replies stay in their chat.
    for reply in messages.filter(parent_message__isnull=False).select_related("parent_message"):
        parent = reply.parent_message
        assert reply.conversation_id == parent.conversation_id
        if reply.conversation_id is None:
            assert {reply.sender_id, reply.receiver_id} == {parent.sender_id, parent.receiver_id}

    # The progress bar ran to the end, and the logins are printed last.
    assert "Messages" in err
    assert "300/300" in err
    assert "100%" in err
    assert DEMO_PASSWORD in out
    logins = out[out.index("Demo logins") :]
    assert all(username in logins for username in DEMO_USERNAMES)

    assert DEMO_ADMIN in logins

    # The printed logins work against the API, and the admin's in the admin.
    for username in (DEMO_USERNAMES[0], DEMO_ADMIN):
        response = anon.post(
            reverse("token"), {"username": username, "password": DEMO_PASSWORD}, format="json"
        )
        assert response.status_code == 200
    browser = Client()
    response = browser.post(
        reverse("admin:login"),
        {"username": DEMO_ADMIN, "password": DEMO_PASSWORD, "next": reverse("admin:index")},
        follow=True,
    )
    assert response.status_code == 200
    assert response.context["user"].is_staff
    assert browser.get(reverse("admin:index")).status_code == 200


def test_seed_demo_twice_adds_nothing(db):
    seed("--messages", "40", "--no-progress")
    counts = (User.objects.count(), Conversation.objects.count(), Message.objects.count())

    out, _ = seed("--messages", "40", "--no-progress")

    assert (User.objects.count(), Conversation.objects.count(), Message.objects.count()) == counts
    assert "already" in out
    assert DEMO_PASSWORD in out


def test_seed_demo_completes_a_partial_set_of_users(make_user):
    existing = make_user(DEMO_USERNAMES[1])
    seed("--messages", "20", "--no-progress")
    assert User.objects.filter(username__in=DEMO_USERNAMES).count() == len(DEMO_USERNAMES)
    assert User.objects.get(username=DEMO_USERNAMES[1]).pk == existing.pk
    assert Message.objects.count() == 20


def test_seed_demo_is_reproducible(db):
    seed("--messages", "30", "--seed", "7", "--no-progress")
    first = list(Message.objects.order_by("pk").values_list("content", "conversation_id"))
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    seed("--messages", "30", "--seed", "7", "--no-progress")
    second = list(Message.objects.order_by("pk").values_list("content", flat=True))
    assert [content for content, _ in first] == second


def test_seed_demo_without_progress_bar_draws_none(db):
    _, err = seed("--messages", "5", "--no-progress")
    assert "Messages" not in err


def test_seed_demo_rejects_a_negative_count(db):
    with pytest.raises(CommandError):
        seed("--messages", "-1")
    assert not Message.objects.exists()


def test_seed_demo_says_once_when_the_broker_is_down(db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    outbox_logger = logging.getLogger("outbox.services")
    level = outbox_logger.level

    out, _ = seed("--messages", "5", "--no-progress")

    assert out.count("does not answer") == 1
    assert Message.objects.count() == 5
    assert OutboxEvent.objects.filter(task="notification_create_for_messages").count() == 5
    assert outbox_logger.level == level


def test_seed_demo_with_the_broker_up_says_nothing_about_it(db):
    out, _ = seed("--messages", "3", "--no-progress")
    assert "does not answer" not in out
