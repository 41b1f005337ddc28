"""The proofs of `make cluster-test`, run against the real topology that bin/cluster-test starts.

Not part of `make test`: these tests need the cluster's processes (HAProxy, two gunicorn web
processes, the worker nodes, beat, Redis with Sentinel, PostgreSQL) and kill some of them on
purpose. This process reads the cluster's environment (its cluster.env) and so uses the
cluster's own database and settings, to check what the workers wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR") or ROOT / "var" / "cluster-test").resolve()
BASE = int(os.environ.get("CLUSTER_PORT_BASE") or 18200)


def _load_cluster_env() -> None:
    for line in (CLUSTER_DIR / "cluster.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            os.environ[name] = value.strip("'")


_load_cluster_env()
import django  # noqa: E402 - after the cluster's environment is in place

django.setup()

from testkit import HttpApi, wait_until  # noqa: E402


class Cluster:
    """The running cluster: its ports, and its processes through supervisorctl."""

    lb = f"http://127.0.0.1:{BASE}"
    web = (f"http://127.0.0.1:{BASE + 1}", f"http://127.0.0.1:{BASE + 2}")
    streams = (f"http://127.0.0.1:{BASE + 6}", f"http://127.0.0.1:{BASE + 7}")
    stats = f"http://127.0.0.1:{BASE + 3}/;csv"
    broker_ports = (BASE + 10, BASE + 11)
    sentinel_ports = (BASE + 20, BASE + 21, BASE + 22)
    logs = CLUSTER_DIR / "logs"

    def ctl(self, *args: str) -> str:
        env = dict(os.environ, CLUSTER_DIR=str(CLUSTER_DIR), CLUSTER_PORT_BASE=str(BASE))
        result = subprocess.run(
            [str(ROOT / "bin" / "cluster"), "ctl", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout

    def pid(self, program: str) -> int:
        return int(self.ctl("pid", program).strip() or 0)

    def kill(self, program: str) -> float:
        """SIGKILL the program's whole process group (supervisord gives each its own); return
        the time of the kill."""
        pid = self.pid(program)
        assert pid > 0, f"{program} is not running"
        killed_at = time.time()
        os.killpg(pid, signal.SIGKILL)
        return killed_at

    def wait_running(self, program: str, *, other_than: int = 0, timeout: float = 60) -> int:
        def started() -> int:
            pid = self.pid(program)
            return pid if pid and pid != other_than and "RUNNING" in self.status(program) else 0

        return wait_until(started, timeout=timeout, interval=0.5, what=f"{program} running")

    def status(self, program: str) -> str:
        return self.ctl("status", program)

    def master_port(self) -> int:
        import redis

        for port in self.sentinel_ports:
            try:
                sentinel = redis.Redis(port=port, socket_timeout=1)
                return int(sentinel.sentinel_get_master_addr_by_name("broker")[1])
            except redis.RedisError:
                continue
        raise AssertionError("no sentinel answers")

    def broker_program(self, port: int) -> str:
        return "redis-a" if port == self.broker_ports[0] else "redis-b"

    def backend_states(self) -> dict[str, str]:
        """HAProxy's view of the web processes: {'web-1': 'UP', ...}."""
        import urllib.request

        with urllib.request.urlopen(self.stats, timeout=2) as response:  # noqa: S310
            rows = response.read().decode().splitlines()
        header = rows[0].lstrip("# ").split(",")
        states = {}
        for row in rows[1:]:
            cells = dict(zip(header, row.split(","), strict=False))
            if cells.get("pxname") == "web" and cells.get("svname", "").startswith("web-"):
                states[cells["svname"]] = cells["status"].split(" ")[0]
        return states


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    cluster = Cluster()
    status, body = HttpApi(cluster.lb).get("/api/health/")
    assert status == 200, f"the cluster is not healthy: {status} {body}"
    return cluster


@dataclass
class Person:
    user: object
    token: str

    @property
    def pk(self) -> int:
        return self.user.pk

    def api(self, base: str) -> HttpApi:
        return HttpApi(base, self.token)


@pytest.fixture
def people():
    """Users made in the cluster's database, each with an access token as a client holds."""
    import uuid

    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    def make(count: int) -> list[Person]:
        tag = uuid.uuid4().hex[:8]
        users = [
            User.objects.create(username=f"c{tag}{i}", email=f"c{tag}{i}@cluster.invalid")
            for i in range(count)
        ]
        return [Person(user, str(AccessToken.for_user(user))) for user in users]

    return make


@dataclass
class Poster:
    """Posts direct messages at a steady rate from a thread until stopped; records
    (sent at, seconds, status, message id or error) for each post."""

    api: HttpApi
    receiver: int
    rate: float
    posts: list[tuple[float, float, int, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            started, wall = time.monotonic(), time.time()
            status, body = self.api.post(
                "/api/messaging/messages/", {"receiver": self.receiver, "content": "burst"}
            )
            result = body["id"] if status == 201 else body
            self.posts.append((wall, time.monotonic() - started, status, result))
            next_at += 1 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Poster:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def created(self) -> list[int]:
        return [result for _, _, status, result in self.posts if status == 201]

    def failed(self) -> list[tuple]:
        return [post for post in self.posts if post[2] != 201]


def every_message_notified_once(message_ids: list[int], *, timeout: float) -> float:
    """Wait until each message has exactly one notification; return the seconds waited."""
    from django.db.models import Count

    from messaging.models import Notification

    started = time.monotonic()

    def done() -> bool:
        counts = dict(
            Notification.objects.filter(message_id__in=message_ids)
            .values_list("message_id")
            .annotate(n=Count("id"))
        )
        assert all(n == 1 for n in counts.values()), "a message was notified twice"
        return len(counts) == len(message_ids)

    wait_until(done, timeout=timeout, interval=0.5, what=f"{len(message_ids)} notifications")
    return time.monotonic() - started


def record(name: str, figures: dict) -> None:
    """Print a measured figure and keep it in CLUSTER_DIR/results.json (BENCHMARKS.md)."""
    path = CLUSTER_DIR / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[name] = figures
    path.write_text(json.dumps(results, indent=1))
    print(f"\n[cluster-test] {name}: {json.dumps(figures)}")
