"""The end-to-end pipeline on RabbitMQ and on the filesystem fallback: brokers are swappable."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from messaging.models import Message, MessageHistory, Notification
from messaging_app.settings.base import filesystem_broker_options
from outbox.models import OutboxEvent
from testkit import WorkerProcess, client_for, purge_broker, use_broker, wait_until

PASSWORD = "correct-horse-battery-staple"  # what the make_user fixture sets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(params=["rabbitmq", "filesystem"])
def broker(request, tmp_path):
    if request.param == "rabbitmq":
        url, options, transport, env = RABBITMQ_URL, {}, None, {}
    else:
        url, options = "filesystem://", filesystem_broker_options(tmp_path / "broker")
        transport = settings.FILESYSTEM_BROKER_TRANSPORT  # what the settings pick for this URL
        env = {"VAR_DIR": str(tmp_path)}  # the worker derives the same folders from it
    with use_broker(url, transport_options=options, transport=transport):
        if request.param == "rabbitmq":
            purge_broker(url)
        worker = WorkerProcess(broker_url=url, env=env, log_path=tmp_path / "worker.log")
        worker.wait_ready()
        try:
            yield request.param
        finally:
            worker.stop()


def test_message_edits_and_purge_on_each_broker(broker, alice, bob, carol):
    a, b = client_for(alice), client_for(bob)
    message_id = a.post(
        reverse("message-list"), {"receiver": bob.pk, "content": "v1"}, format="json"
    ).json()["id"]
    wait_until(lambda: Notification.objects.filter(user=bob, message_id=message_id).exists())

    url = reverse("message-detail", args=[message_id])
    a.patch(url, {"content": "v2"}, format="json")
    a.patch(url, {"content": "v3"}, format="json")
    wait_until(lambda: MessageHistory.objects.filter(message_id=message_id).count() == 2)
    assert list(
        MessageHistory.objects.filter(message_id=message_id)
        .order_by("revision")
        .values_list("old_content", flat=True)
    ) == ["v1", "v2"]

    kept = (
        client_for(carol)
        .post(reverse("message-list"), {"receiver": alice.pk, "content": "stays"}, format="json")
        .json()["id"]
    )
    b.post(reverse("message-list"), {"receiver": alice.pk, "content": "goes"}, format="json")
    deleted = b.post(reverse("delete-user"), {"password": PASSWORD}, format="json")
    assert deleted.status_code == 202
    wait_until(lambda: not OutboxEvent.objects.filter(processed_at__isnull=True).exists())
    assert list(Message.objects.values_list("pk", flat=True)) == [kept]
    assert not Notification.objects.filter(user_id=bob.pk).exists()
