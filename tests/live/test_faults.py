"""Faults with real processes: a POST whose answer is lost, concurrent duplicates, a stream
server killed under its clients, Redis restarting, an account deleted while its stream is open.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken

from chats.services import conversation_create
from messaging.models import Message
from testkit import RedisServer, ServerProcess, client_for, free_port, wait_until
from tests.live.conftest import SERVER_ENV, bearer, connected, publish, seqs_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _api_post(base: str, path: str, user, body: dict, key: str, timeout: float = 10):
    request = urllib.request.Request(  # noqa: S310 - loopback
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {AccessToken.for_user(user)}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _whole_request(client: socket.socket) -> bytes:
    """The request's head and its Content-Length of body, however many reads they take (one
    read forwarded the head alone once: the server waited for a body that never came)."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = client.recv(65536)
        if not chunk:
            return request
        request += chunk
    head, _, body = request.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    missing = (int(length.group(1)) if length else 0) - len(body)
    while missing > 0:
        chunk = client.recv(65536)
        if not chunk:
            break
        request += chunk
        missing -= len(chunk)
    return request


class AnswerEater:
    """A loopback proxy for one connection: forwards the request, lets the server answer in
    full, and never passes the answer on (the client times out)."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.answered = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self._listener.accept()
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as server:
            server.sendall(_whole_request(client))
            server.settimeout(10)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                answer += server.recv(65536)
            self.answered.set()
            time.sleep(5)  # hold the client's connection, answer nothing
        self._listener.close()


def test_a_post_whose_answer_is_lost_and_is_retried_sends_one_message(make_user):
    alice, bob = make_user(), make_user()
    server = ServerProcess(wsgi_workers=2).start()
    try:
        proxy = AnswerEater(server.port)
        body = {"receiver": bob.pk, "content": "did it go?"}
        path = reverse("message-list")
        with pytest.raises(OSError):  # a timeout: the answer never came
            _api_post(f"http://127.0.0.1:{proxy.port}", path, alice, body, "retry-1", timeout=2)
        # The server may answer after the client gave up (a cold worker on a busy machine).
        assert proxy.answered.wait(10) and Message.objects.count() == 1
        status, answer = _api_post(server.base, path, alice, body, "retry-1")
        assert status == 201 and answer["id"] == Message.objects.get().pk
        assert Message.objects.count() == 1
    finally:
        server.stop()


def test_concurrent_duplicates_send_one_message(make_user):
    alice, bob = make_user(), make_user()
    server = ServerProcess(wsgi_workers=4).start()
    answers: list = []
    body = {"receiver": bob.pk, "content": "double click"}

    def send() -> None:
        answers.append(_api_post(server.base, reverse("message-list"), alice, body, "dup"))

    try:
        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    assert Message.objects.count() == 1
    assert {(status, answer["id"]) for status, answer in answers} == {
        (201, Message.objects.get().pk)
    }
    assert len(answers) == 8


def _ids(client) -> list[int]:
    """Seqs of every event the client got that carries one (ready and reset repeat the last)."""
    return [
        e[0] for e in list(client.events) if e[0] is not None and e[1] not in ("ready", "reset")
    ]


def test_clients_of_a_killed_stream_server_reconnect_and_get_everything_once(
    celery_worker_process, make_user, streams
):
    alice, bob, carol = make_user(), make_user(), make_user()
    conversation = conversation_create(creator=alice, participants=[bob, carol])
    doomed = ServerProcess(env=SERVER_ENV).start()
    other = ServerProcess(env=SERVER_ENV).start()
    revived = ServerProcess(port=doomed.port, env=SERVER_ENV)
    api = client_for(alice)
    path = reverse("conversation-messages", args=[conversation.pk])
    try:
        clients = [
            connected(streams(doomed.base, bearer(bob))),
            connected(streams(doomed.base, bearer(carol))),
            connected(streams(other.base, bearer(bob))),  # the same user on another process
        ]

        def send(start: int) -> None:
            for i in range(start, start + 5):
                assert api.post(path, {"content": f"m{i}"}, format="json").status_code == 201

        send(0)
        wait_until(lambda: all(len(c.of_type("message.created")) == 5 for c in clients), timeout=20)
        doomed.kill()
        send(5)  # while the clients of the dead process are cut off
        revived.start()
        send(10)
        wait_until(
            lambda: all(len(c.of_type("message.created")) == 15 for c in clients), timeout=30
        )
        for client in clients:
            ids = _ids(client)
            assert ids == list(range(ids[0], ids[0] + len(ids))), "every event once, in order"
            assert [e[2]["content"] for e in client.of_type("message.created")] == [
                f"m{i}" for i in range(15)
            ]
        assert clients[0].connections >= 2 and clients[2].connections == 1
    finally:
        doomed.kill()
        revived.stop()
        other.stop()


def test_after_redis_restarts_subscriptions_return_and_missed_events_are_replayed(
    make_user, streams
):
    redis_server = RedisServer().start()
    # No sweep during the test: what arrives after the restart comes from the resubscription.
    env = {**SERVER_ENV, "LIVE_REDIS_URL": redis_server.url, "LIVE_SWEEP_SECONDS": "600"}
    server = ServerProcess(env=env).start()
    user = make_user()
    try:
        with override_settings(LIVE_REDIS_URL=redis_server.url):
            client = connected(streams(server.base, bearer(user)))
            publish(user, 2)
            wait_until(lambda: seqs_of(client) == [1, 2], timeout=5)
            redis_server.stop()
            publish(user, 3)  # committed; the publishes fail
            time.sleep(1)
            assert seqs_of(client) == [1, 2]
            redis_server.start()
            wait_until(lambda: seqs_of(client) == [1, 2, 3, 4, 5], timeout=15, what="replayed")
            publish(user, 2)
            wait_until(lambda: seqs_of(client) == list(range(1, 8)), timeout=5, what="live again")
        assert client.connections == 1  # the stream itself never broke
    finally:
        server.stop()
        redis_server.stop()


def test_a_deleted_accounts_open_stream_closes_at_once(make_user, streams):
    server = ServerProcess(env={**SERVER_ENV, "LIVE_SWEEP_SECONDS": "600"}).start()
    user = make_user()
    try:
        client = connected(streams(server.base, bearer(user)))
        started = time.monotonic()
        body = {"password": "correct-horse-battery-staple"}  # what make_user sets
        assert client_for(user).post(reverse("delete-user"), body, format="json").status_code == 202
        wait_until(lambda: client.of_type("account.deleted"), timeout=5)
        wait_until(lambda: 401 in client.statuses, timeout=5, what="the reconnect refused")
        assert time.monotonic() - started < 2
        assert client.connections == 1
    finally:
        server.stop()
