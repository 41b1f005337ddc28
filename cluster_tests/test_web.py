"""Web processes behind the load balancer: shared cache, a process killed, live streams."""

from __future__ import annotations

import threading
import time

from cluster_tests.conftest import record
from testkit import HttpApi, wait_until

LIST = "/api/messaging/messages/"
# How long a SIGKILLed gunicorn's listening socket may still accept connections.
DYING_SECONDS = 0.5


def test_a_post_through_one_web_process_is_read_at_once_through_the_other(cluster, people):
    """Read-your-writes across processes: the list cached by one process is invalidated by a
    post through the other (one Redis cache), so the poster sees the post at once."""
    alice, bob = people(2)
    for i in range(10):
        writer, reader = (cluster.web[0], cluster.web[1])[:: 1 if i % 2 == 0 else -1]
        status, _ = alice.api(reader).get(LIST)  # now cached (shared Redis cache)
        assert status == 200
        status, posted = alice.api(writer).post(LIST, {"receiver": bob.pk, "content": f"n{i}"})
        assert status == 201, posted
        status, after = alice.api(reader).get(LIST)
        assert status == 200
        assert after["results"][0]["id"] == posted["id"], f"round {i}: a stale list was served"
        status, received = bob.api(reader).get(LIST)
        assert received["results"][0]["id"] == posted["id"]


def test_a_stream_on_one_process_receives_a_post_through_another(cluster, people):
    """Live delivery across processes: bob streams from stream process 1 (uvicorn), alice posts
    through web process 2 (gunicorn); the worker's event reaches the stream through Redis
    pub/sub. And through the balancer, which routes /api/events/ to the stream processes."""
    alice, bob = people(2)
    for stream_base, post_base in ((cluster.streams[0], cluster.web[1]), (cluster.lb, cluster.lb)):
        status, ticket = bob.api(post_base).post("/api/events/ticket/")
        assert status == 201, ticket
        frames = _stream(f"{stream_base}/api/events/?ticket={ticket['ticket']}", seconds=15)
        wait_until(lambda f=frames: any(line.startswith("event: ready") for line in f), timeout=5)
        status, posted = alice.api(post_base).post(LIST, {"receiver": bob.pk, "content": "hi"})
        assert status == 201
        wait_until(lambda f=frames, p=posted: any(str(p["id"]) in line for line in f), timeout=10)


def _stream(url: str, *, seconds: float) -> list[str]:
    """Read a Server-Sent Events stream in a thread for `seconds`; the frames arrive in the list."""
    import urllib.request

    frames: list[str] = []

    def read() -> None:
        deadline = time.monotonic() + seconds
        with urllib.request.urlopen(url, timeout=seconds) as response:  # noqa: S310
            while time.monotonic() < deadline:
                line = response.readline().decode()
                if not line:
                    return
                frames.append(line)

    threading.Thread(target=read, daemon=True).start()
    return frames


def _load(api_of, bob_pk: int, stop: threading.Event, out: list) -> None:
    """One client: a list read, then a post, through the balancer, until stopped."""
    api = api_of()
    while not stop.is_set():
        for method, body in (("GET", None), ("POST", {"receiver": bob_pk, "content": "lb"})):
            started = time.time()
            status, _ = api.request(method, LIST, body)
            out.append((started, time.time(), method, status))


def _only_in_flight_failed(failed: list, killed_at: float, clients: int) -> None:
    """In flight: being served at the kill, or handed to the dying process while its listening
    socket still took connections (the kernel resets them a few milliseconds later). HAProxy
    retries a GET on the other process; a POST it cannot know was not processed."""
    late = [r for r in failed if r[0] > killed_at + DYING_SECONDS]
    assert late == [], f"requests failed after the process was gone: {late}"
    assert all(method == "POST" for _, _, method, _ in failed), "a GET was not retried"
    assert len(failed) <= clients


def test_a_killed_web_process_costs_only_the_requests_it_was_serving(cluster, people):
    """Four clients through the balancer; web process 1 is SIGKILLed. HAProxy retries refused
    connections on the other process and its health check takes the dead one out, so only the
    requests in flight at the kill fail; supervisord restarts it and it comes back."""
    alice, bob = people(2)
    stop, out = threading.Event(), []
    clients = [
        threading.Thread(target=_load, args=(lambda: alice.api(cluster.lb), bob.pk, stop, out))
        for _ in range(4)
    ]
    for client in clients:
        client.start()
    time.sleep(3)
    old_pid = cluster.pid("web-1")
    killed_at = cluster.kill("web-1")
    time.sleep(5)
    stop.set()
    for client in clients:
        client.join(30)
    failed = [r for r in out if r[3] not in (200, 201)]
    in_flight = [r for r in out if r[0] <= killed_at <= r[1]]
    record(
        "web process killed",
        {
            "requests": len(out),
            "in flight at the kill": len(in_flight),
            "failed": [
                (method, status, round(t - killed_at, 3)) for t, _, method, status in failed
            ],
        },
    )
    assert len(out) > 100
    _only_in_flight_failed(failed, killed_at, len(clients))
    cluster.wait_running("web-1", other_than=old_pid)
    wait_until(lambda: cluster.backend_states().get("web-1") == "UP", timeout=30)
    assert HttpApi(cluster.web[0]).get("/api/health/live/")[0] == 200
