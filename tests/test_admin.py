"""The admin: every registered model opens, searches work, users autocomplete."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django_celery_results.models import TaskResult

from accounts.models import User
from chats.models import Conversation
from messaging import services
from messaging.models import Message, MessageHistory, MessageRead, Notification
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db

REGISTERED = sorted(model._meta.label for model in admin.site._registry)
SEARCHABLE = sorted(m._meta.label for m, a in admin.site._registry.items() if a.search_fields)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def root(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def site(root) -> Client:
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def objects(alice, bob, carol) -> dict:
    """One row of every model of the project, made the way the application makes them."""
    conversation = Conversation.objects.create(created_by=alice)
    conversation.participants.add(alice, bob, carol)
    direct = services.message_send(sender=alice, receiver=bob, content="hello bob")
    services.message_edit(message=direct, editor=alice, content="hello again, bob")
    services.message_history_archive(
        edits=[e.payload for e in OutboxEvent.objects.filter(task="message_history_archive")]
    )
    in_group = services.conversation_message_post(
        sender=carol, conversation=conversation, content="x" * 500, parent_message=None
    )
    services.notification_create_for_messages(message_ids=[direct.pk, in_group.pk])
    services.message_mark_read(message=direct, user=bob)
    task = TaskResult.objects.create(
        task_id="0b8c4f6e-1f7e-4c1e-9a55-4a0b7f8d9e10",
        task_name="notification_create_for_messages",
        status="SUCCESS",
        result="1",
    )
    return {
        User: alice,
        Message: in_group,
        MessageRead: MessageRead.objects.get(),
        Notification: Notification.objects.filter(message=in_group).first(),
        MessageHistory: MessageHistory.objects.get(),
        Conversation: conversation,
        OutboxEvent: OutboxEvent.objects.first(),
        TaskResult: task,
    }


def test_the_project_models_are_registered():
    for label in (
        "accounts.User",
        "messaging.Message",
        "messaging.MessageRead",
        "messaging.Notification",
        "messaging.MessageHistory",
        "chats.Conversation",
        "outbox.OutboxEvent",
        "django_celery_results.TaskResult",
    ):
        assert label in REGISTERED


@pytest.mark.parametrize("label", REGISTERED)
def test_changelist_opens(site, objects, label):
    model = next(m for m in admin.site._registry if m._meta.label == label)
    response = site.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    if model in objects:
        assert f"/{objects[model].pk}/change/" in response.content.decode()


@pytest.mark.parametrize("label", SEARCHABLE)
def test_changelist_search_works(site, objects, label):
    model = next(m for m in admin.site._registry if m._meta.label == label)
    response = site.get(admin_url(model, "changelist"), {"q": "alice"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "model",
    [
        User,
        Message,
        MessageRead,
        Notification,
        MessageHistory,
        Conversation,
        OutboxEvent,
        TaskResult,
    ],
    ids=lambda m: m._meta.label,
)
def test_change_page_opens(site, objects, model):
    response = site.get(admin_url(model, "change", objects[model].pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", [Message, Notification, MessageHistory, Conversation])
def test_changelist_filters_work(site, objects, model):
    model_admin = admin.site._registry[model]
    response = site.get(admin_url(model, "changelist"))
    for spec in response.context["cl"].filter_specs:
        for choice in spec.choices(response.context["cl"]):
            filtered = site.get(admin_url(model, "changelist") + choice["query_string"])
            assert filtered.status_code == 200, (model_admin, choice["query_string"])


def test_direct_message_change_page_shows_history_inline(site, objects):
    direct = Message.objects.filter(receiver__isnull=False).get()
    response = site.get(admin_url(Message, "change", direct.pk))
    assert response.status_code == 200
    assert "hello bob" in response.content.decode()  # the archived old version


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name"),
    [
        ("messaging", "message", "sender"),
        ("messaging", "message", "receiver"),
        ("messaging", "notification", "user"),
        ("messaging", "messageread", "user"),
        ("chats", "conversation", "participants"),
        ("chats", "conversation", "created_by"),
    ],
)
def test_user_autocomplete(site, alice, bob, app_label, model_name, field_name):
    response = site.get(
        reverse("admin:autocomplete"),
        {
            "app_label": app_label,
            "model_name": model_name,
            "field_name": field_name,
            "term": "ali",
        },
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(alice.pk), "text": "alice"}]


def test_admin_needs_staff(alice):
    client = Client()
    client.force_login(alice)
    response = client.get(admin_url(Message, "changelist"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_deleting_a_user_in_the_admin_records_the_purge(site, objects, alice):
    alice_id = alice.pk
    response = site.post(admin_url(User, "delete", alice_id), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=alice_id).exists()
    assert OutboxEvent.objects.filter(
        task="user_data_purge", payload={"user_id": alice_id}
    ).exists()
    # Her messages wait for the purge; the admin still opens meanwhile.
    assert Message.objects.filter(sender_id=alice_id).exists()
    assert site.get(admin_url(Message, "changelist")).status_code == 200
    orphan = Message.objects.filter(sender_id=alice_id).first()
    assert site.get(admin_url(Message, "change", orphan.pk)).status_code == 200
    assert site.get(admin_url(Notification, "changelist")).status_code == 200
