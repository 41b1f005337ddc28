"""GET /api/events/ against a real uvicorn process and the real Redis: live events, replay with
Last-Event-ID (exactly once, in order, no gap at the switch to live), the replay window, tickets,
the connection limit, heartbeats, slow clients, gaps, expiry and the polling mode."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest
from django.db import transaction
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from live.models import LiveEvent
from live.services import Event, live_publish, publish_rollback_unsafe
from testkit import ServerProcess, client_for, wait_until
from tests.live.conftest import SERVER_ENV, bearer, connected, publish, seqs_of, with_tickets

pytestmark = pytest.mark.django_db(transaction=True)


def _status(server, query="", headers=None) -> int:
    url = f"{server.base}/api/events/{query}"
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_live_events_arrive_in_order_with_ids_types_and_bodies(server, streams, alice):
    client = connected(streams(server.base, bearer(alice)))
    seqs = publish(alice, 5)
    wait_until(lambda: seqs_of(client) == seqs, timeout=5, what="five live events")
    assert seqs == [1, 2, 3, 4, 5]
    assert [e[2] for e in client.of_type("test.ping")] == [{"n": i} for i in range(5)]


def test_reconnect_replays_what_was_missed_exactly_once_then_goes_live(server, streams, alice):
    publish(alice, 3)
    first = connected(streams(server.base, bearer(alice), reconnect=False))
    assert first.events[0][:2] == (3, "ready")
    first.stop()
    publish(alice, 4)  # seqs 4..7 while away
    again = connected(streams(server.base, bearer(alice), last_id=3))
    publish(alice, 2)  # 8, 9 live
    wait_until(lambda: seqs_of(again) == [4, 5, 6, 7, 8, 9], timeout=5, what="replay then live")
    assert [e[1] for e in again.events[:5]] == ["test.ping"] * 4 + ["ready"]


def test_query_parameter_resumes_like_the_header(server, streams, alice):
    publish(alice, 3)
    client = connected(streams(server.base, lambda: ("?last_event_id=1", bearer(alice)()[1])))
    assert seqs_of(client) == [2, 3]


def test_no_gap_and_no_duplicate_while_events_commit_during_replay(server, streams, alice):
    """A writer commits events while clients connect and replay: each client ends with every
    seq from its starting point, once each, in order."""
    publish(alice, 50)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            publish(alice, 1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        clients = []
        for start in (0, 10, 25, 49):
            clients.append((start, streams(server.base, bearer(alice), last_id=start)))
            time.sleep(0.1)
    finally:
        time.sleep(0.5)
        stop.set()
        thread.join()
    last = LiveEvent.objects.filter(user=alice).order_by("-seq").first().seq
    for start, client in clients:
        wait_until(lambda c=client: (seqs_of(c) or [0])[-1] == last, timeout=10, what="all")
        assert seqs_of(client) == list(range(start + 1, last + 1))


def test_behind_the_window_gets_a_reset(server, streams, alice):
    publish(alice, 5)
    LiveEvent.objects.filter(user=alice, seq__lte=2).delete()  # pruned
    client = connected(streams(server.base, bearer(alice)))
    client.stop()
    behind = connected(streams(server.base, bearer(alice), reconnect=False, last_id=1))
    assert [e[:2] for e in behind.events] == [(5, "reset"), (5, "ready")]
    ahead = streams(server.base, lambda: ("?last_event_id=99", bearer(alice)()[1]))
    assert connected(ahead).events[0][:2] == (5, "reset")


@override_settings(LIVE_REPLAY_MAX_EVENTS=10)
def test_more_missed_events_than_the_window_holds_is_a_reset(make_user, streams):
    # The window is the server's setting: a server of its own with a window of 10 events.
    server = ServerProcess(env={**SERVER_ENV, "LIVE_REPLAY_MAX_EVENTS": "10"}).start()
    try:
        user = make_user()
        publish(user, 12)
        client = connected(streams(server.base, lambda: ("?last_event_id=1", bearer(user)()[1])))
        assert client.events[0][:2] == (12, "reset")
        ok = connected(streams(server.base, lambda: ("?last_event_id=2", bearer(user)()[1])))
        assert seqs_of(ok) == list(range(3, 13))
    finally:
        server.stop()


def test_tickets_open_one_stream_each_and_tokens_never_go_in_urls(server, streams, alice):
    client = connected(streams(server.base, with_tickets(alice)))
    publish(alice, 1)
    wait_until(lambda: seqs_of(client) == [1], timeout=5)
    ticket = client_for(alice).post("/api/events/ticket/").json()["ticket"]
    assert _status_open(server, f"?ticket={ticket}") == 200
    assert _status(server, f"?ticket={ticket}") == 401  # used up
    assert _status(server, "?ticket=forged") == 401
    assert _status(server) == 401
    assert _status(server, headers={"Authorization": "Bearer not-a-jwt"}) == 401
    assert _status(server, headers={"Authorization": "Basic YTpi"}) == 401
    assert (
        _status(server, "?last_event_id=x", {"Authorization": bearer(alice)()[1]["Authorization"]})
        == 400
    )


def _stream_request(token: str) -> bytes:
    return (
        f"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def _status_open(server, query: str) -> int:
    """Open a stream, read its status, close it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET /api/events/{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return int(sock.recv(64).split()[1])


def test_a_token_from_before_a_password_change_opens_no_stream(server, alice):
    """The stream checks a Bearer token as the REST API does: a password change revokes it."""
    headers = bearer(alice)()[1]
    assert _status_open(server, "") == 401  # no credentials
    assert _status(server, headers=headers) == 200
    alice.set_password("a-new-long-passphrase-42")
    alice.save()
    assert _status(server, headers=headers) == 401
    assert _status(server, headers=bearer(alice)()[1]) == 200  # a token issued after it


def test_an_expired_ticket_is_refused(server, alice):
    ticket = client_for(alice).post("/api/events/ticket/").json()["ticket"]
    from live.models import LiveTicket

    LiveTicket.objects.update(expires_at="2000-01-01T00:00:00Z")
    assert _status(server, f"?ticket={ticket}") == 401


def test_connections_per_user_are_limited(make_user, streams):
    server = ServerProcess(env={**SERVER_ENV, "LIVE_MAX_CONNECTIONS_PER_USER": "2"}).start()
    try:
        user, other = make_user(), make_user()
        for _ in range(2):
            connected(streams(server.base, bearer(user)))
        assert _status(server, headers=bearer(user)()[1]) == 429
        connected(streams(server.base, bearer(other)))  # another user is not affected
    finally:
        server.stop()


def test_the_limit_counts_the_streams_of_every_process(make_user, streams):
    env = {**SERVER_ENV, "LIVE_MAX_CONNECTIONS_PER_USER": "2"}
    first, second = ServerProcess(env=env).start(), ServerProcess(env=env).start()
    try:
        user = make_user()
        connected(streams(first.base, bearer(user)))
        connected(streams(second.base, bearer(user)))
        assert _status(first, headers=bearer(user)()[1]) == 429
        assert _status(second, headers=bearer(user)()[1]) == 429
    finally:
        first.stop()
        second.stop()


def test_heartbeats_keep_a_quiet_stream_talking(server, alice):
    token = str(AccessToken.for_user(alice))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_stream_request(token))
        received = b""
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            received += sock.recv(4096)
    assert b"retry: " in received
    assert received.count(b": heartbeat\n\n") >= 2  # every second on this server


def test_a_client_that_stops_reading_is_disconnected(make_user):
    server = ServerProcess(env={**SERVER_ENV, "LIVE_QUEUE_SIZE": "4"}).start()
    user = make_user()
    token = str(AccessToken.for_user(user))
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(_stream_request(token))
        time.sleep(0.5)
        big = {"blob": "x" * 50_000}
        for _ in range(200):  # 10 MB the client does not read: more than any socket buffer
            with transaction.atomic():
                live_publish([Event(user.pk, "test.big", big)])
        time.sleep(2)  # still not reading: the queue overflows, the server hangs up
        received, closed = b"", False
        deadline = time.monotonic() + 20
        while not closed and time.monotonic() < deadline:
            chunk = sock.recv(1 << 20)  # what was in flight, then the end
            received += chunk
            closed = chunk == b""
        assert closed, "the server should have closed the connection"
        assert 0 < received.count(b"event: test.big") < 200
    finally:
        sock.close()
        server.stop()


def test_events_out_of_order_or_lost_are_filled_from_the_table(server, streams, alice):
    client = connected(streams(server.base, bearer(alice)))
    # Committed without a publish (as if it were lost), then a later one is published: the
    # stream sees seq 3 after 0 and reads 1 and 2 from the table first.
    with override_settings(LIVE_REDIS_URL=""):
        publish(alice, 2)
    publish(alice, 1)
    wait_until(lambda: seqs_of(client) == [1, 2, 3], timeout=5, what="the gap filled")
    # A duplicate publish of an old event changes nothing.
    publish_rollback_unsafe(json.dumps({"e": [[alice.pk, 2, "test.ping", {"n": 9}]]}))
    publish(alice, 1)
    wait_until(lambda: seqs_of(client) == [1, 2, 3, 4], timeout=5)


def test_a_lost_publish_is_found_by_the_sweep(server, streams, alice):
    client = connected(streams(server.base, bearer(alice)))
    with override_settings(LIVE_REDIS_URL=""):
        publish(alice, 1)
    wait_until(lambda: seqs_of(client) == [1], timeout=6, what="the sweep (every 2 s here)")


def test_the_stream_ends_when_the_token_expires(server, streams, alice):
    from datetime import timedelta

    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=timedelta(seconds=2))
    client = streams(server.base, lambda: ("", {"Authorization": f"Bearer {token}"}))
    connected(client)
    wait_until(lambda: client.of_type("close"), timeout=6, what="close at expiry")
    assert client.of_type("close")[0][2] == {"reason": "expired"}
    wait_until(lambda: 401 in client.statuses, timeout=5, what="the expired token refused")


def test_without_redis_streams_poll_the_table(make_user, streams):
    server = ServerProcess(env={**SERVER_ENV, "LIVE_REDIS_URL": "off"}).start()
    try:
        user = make_user()
        client = connected(streams(server.base, bearer(user)))
        assert client.of_type("ready")[0][2]["transport"] == "poll"
        with override_settings(LIVE_REDIS_URL=""):
            seqs = publish(user, 3)
        wait_until(lambda: seqs_of(client) == seqs, timeout=5, what="polled events")
    finally:
        server.stop()


def test_only_get_and_only_allowed_hosts(server, alice):
    url = f"{server.base}/api/events/"
    request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET"
    token = str(AccessToken.for_user(alice))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_stream_request(token).replace(b"Host: 127.0.0.1", b"Host: evil.example"))
        assert sock.recv(64).split()[1] == b"400"


def test_a_wsgi_server_refuses_to_hold_a_stream(alice):
    response = client_for(alice).get("/api/events/")
    assert response.status_code == 503
