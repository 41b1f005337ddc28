"""Helpers shared by the test suite and the benchmarks: waiting, ports, API clients, real Celery
workers, ASGI server processes, event stream clients, throwaway Redis servers and switching the
producer's broker.

Import it after Django is set up (pytest-django does that for the tests, bench/run.py for the
benchmarks).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy, and return that.

    On timeout, fail (AssertionError, so pytest shows it as a failed check) with `what` and the
    last value.
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what or 'condition'} not met within {timeout:g}s (last value: {value!r})"
            )
        time.sleep(interval)
        value = predicate()
    return value


def client_for(user) -> Any:
    """An API client carrying a JWT for `user` (none for None), as real clients authenticate."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def current_database_url() -> str:
    """A DATABASE_URL for the database this test process uses (the test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def worker_env(broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a process the tests start: the test settings, on this run's database,
    broker, queue and cache."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="messaging_app.settings.test",
        DATABASE_URL=current_database_url(),
        CELERY_BROKER_URL=broker_url or settings.CELERY_BROKER_URL,
        VAR_DIR=str(settings.VAR_DIR),
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        CELERY_BULK_QUEUE=settings.BULK_QUEUE,
        LIVE_CHANNEL=settings.LIVE_CHANNEL,
        PYTHONUNBUFFERED="1",
    )
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        env["CACHE_URL"] = settings.CACHES["default"]["LOCATION"]
        env["CACHE_KEY_PREFIX"] = settings.CACHES["default"].get("KEY_PREFIX", "")
    env.update(extra)
    return env


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so no worker outlives its run."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class WorkerProcess:
    """A real `celery worker` process against a real broker and the test database."""

    def __init__(
        self,
        *,
        broker_url: str | None = None,
        concurrency: int = 2,
        pool: str = "prefork",
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path or Path(settings.VAR_DIR) / f"worker-{self.hostname}.log"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "--loglevel=INFO",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--hostname={self.hostname}",
            "--without-mingle",
            "--without-gossip",
            "-E",
            *(extra_args or []),
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=worker_env(self.broker_url, **(env or {})),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            return "ready." in self.log()

        wait_until(ready, timeout=timeout, interval=0.2)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def purge_broker(broker_url: str) -> None:
    """Drop every queued task of this session's queues on this broker (leftovers of a run)."""
    from celery_app import app

    with app.connection_for_write(broker_url) as conn:
        for declared in app.conf.task_queues:
            queue = declared(conn.default_channel)
            queue.declare()  # AMQP refuses to purge a queue that does not exist yet
            queue.purge()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group of `process` (started with start_new_session=True), and SIGKILL
    it if it has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class RedisServer:
    """A throwaway redis-server on a loopback port, which a test may stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10)
        return self

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class use_broker:
    """Point this process's Celery producer at another broker, and back afterwards."""

    def __init__(
        self, url: str, transport_options: dict | None = None, transport: str | None = None
    ) -> None:
        self.url = url
        self.transport_options = transport_options
        self.transport = transport

    def __enter__(self):
        from celery_app import app

        self._app = app
        self._original = (app.conf.broker_read_url, app.conf.broker_write_url)
        self._original_options = app.conf.broker_transport_options
        self._original_transport = app.conf.broker_transport
        if self.transport_options is not None:
            app.conf.broker_transport_options = self.transport_options
        if self.transport is not None:
            app.conf.broker_transport = self.transport
        self._reset(urls=(self.url, self.url))
        return self

    def __exit__(self, *exc):
        self._app.conf.broker_transport_options = self._original_options
        self._app.conf.broker_transport = self._original_transport
        self._reset(urls=self._original)

    def _reset(self, *, urls: tuple[str | None, str | None]) -> None:
        from kombu import pools

        from outbox.services import outbox_flush

        outbox_flush()  # publishes already handed to the publisher thread go where they were meant
        app = self._app
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        pools.reset()  # Kombu's global producer pools would hand back closed connections
        # Not conf.broker_url: Celery reads the CELERY_BROKER_URL environment variable first.
        app.conf.broker_read_url, app.conf.broker_write_url = urls


# --- A shared cache for tests -------------------------------------------------------------------

# Not the bench's Redis databases (12, 13) nor the suite's broker (14). Suites of other work trees
# may use it at the same time: each keeps to a prefix of its own and clears only its own keys
# (Django's RedisCache.clear() would flush the whole database).
TEST_REDIS_CACHE_URL = "redis://127.0.0.1:6379/10"


def redis_cache_settings() -> dict:
    """CACHES for a Redis cache every process of this test run shares (worker_env passes it on)."""
    return {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": TEST_REDIS_CACHE_URL,
            "KEY_PREFIX": f"test-{os.getpid()}",
        }
    }


def clear_cache() -> None:
    """Empty the current cache: only this run's keys of a Redis cache."""
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


class HttpApi:
    """A JSON client of a running server over real HTTP (urllib), with a user's JWT.

    `request` returns (status, body); a connection that fails or is cut returns status 0 with
    the error as body, so that a load loop can count failures instead of dying on them.
    """

    def __init__(self, base: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        import json
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URLs the tests build
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read()[:500]
        except (OSError, ValueError) as error:  # refused, reset, timed out, cut short
            return 0, f"{type(error).__name__}: {error}"

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {})


class ServerProcess:
    """A real server serving the project on a free loopback port, against the test database:
    uvicorn (ASGI: REST, the event stream and the static web client), or with `wsgi_workers`
    gunicorn's sync workers (REST only), as production serves the API."""

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        env: dict | None = None,
        wsgi_workers: int = 0,
    ) -> None:
        self.wsgi_workers = wsgi_workers
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or Path(settings.VAR_DIR) / f"server-{self.port}.log"
        # The test process's key: tokens it mints must be valid on the server.
        self.env = worker_env(DJANGO_SECRET_KEY=settings.SECRET_KEY, **(env or {}))
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            self._command(),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        wait_until(self._answers, timeout=60, interval=0.1, what=f"server on {self.port}")
        return self

    def _command(self) -> list[str]:
        if self.wsgi_workers:
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "messaging_app.wsgi:application",
                f"--workers={self.wsgi_workers}",
                f"--bind=127.0.0.1:{self.port}",
                "--log-level=warning",
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "messaging_app.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "2",
        ]

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{self.log_path.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{self.base}/api/auth/me/", timeout=1)  # noqa: S310
        except urllib.error.HTTPError:
            return True  # 401: it answers
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: the process dies with its connections open, as in a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self._log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            stop_process_group(self.process)
            self._log.close()


def parse_sse(lines) -> Any:
    """Yield (id, event, data) of each event in an iterable of decoded SSE lines (no newline);
    comments are skipped; `id` is None for events without one."""
    event_id, kind, data = None, "message", []
    for line in lines:
        if line == "":
            if data:
                yield event_id, kind, "\n".join(data)
            event_id, kind, data = None, "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "event":
                kind = value
            elif field == "data":
                data.append(value)


class EventStreamClient:
    """A test client of GET /api/events/ in a thread: records every event (id, type, data) and,
    like a browser, reconnects with Last-Event-ID when the stream ends or fails.

    `auth()` returns the request's (query string, headers), called for every connection, so a
    client can fetch a fresh ticket each time.
    """

    def __init__(
        self,
        base: str,
        auth: Callable[[], tuple[str, dict]],
        *,
        reconnect: bool = True,
        last_id: int | None = None,
    ) -> None:
        self.base, self.auth, self.reconnect = base, auth, reconnect
        self.events: list[tuple[int | None, str, Any]] = []
        self.statuses: list[int] = []
        self.connections = 0
        self.last_id: str | None = None if last_id is None else str(last_id)
        self._stop = threading.Event()
        self._response = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> EventStreamClient:
        self._thread.start()
        return self

    def _open(self):
        query, headers = self.auth()
        if self.last_id is not None:
            headers = {**headers, "Last-Event-ID": self.last_id}
        url = f"{self.base}/api/events/{query}"
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
        return urllib.request.urlopen(request, timeout=60)  # noqa: S310

    def _read(self, response) -> None:
        lines = (raw.decode().rstrip("\n").rstrip("\r") for raw in response)
        for event_id, kind, data in parse_sse(lines):
            if event_id is not None:
                self.last_id = event_id
            parsed = json.loads(data) if data.startswith(("{", "[")) else data
            self.events.append((int(event_id) if event_id else None, kind, parsed))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._response = self._open()
                self.statuses.append(self._response.status)
                self.connections += 1
                self._read(self._response)
            except urllib.error.HTTPError as exc:
                self.statuses.append(exc.code)
            except (OSError, ValueError, AttributeError):
                pass  # the connection broke (or was closed by stop())
            if not self.reconnect:
                return
            self._stop.wait(0.2)

    def of_type(self, *kinds: str) -> list:
        return [e for e in list(self.events) if e[1] in kinds]

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(OSError, AttributeError):
                response.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)


class SSEParser:
    """Incremental parser of a chunked `text/event-stream` body: feed raw socket bytes, get
    (id, event, data) tuples back. For clients that hold thousands of streams in one asyncio
    loop (the bench); EventStreamClient is the simple threaded one."""

    def __init__(self) -> None:
        self._raw = b""
        self._text = ""
        self._pending: list[str] = []

    def _dechunk(self) -> str:
        out = []
        while True:
            head, sep, rest = self._raw.partition(b"\r\n")
            if not sep:
                break
            size = int(head.split(b";")[0] or b"0", 16)
            if len(rest) < size + 2:
                break
            out.append(rest[:size].decode())
            self._raw = rest[size + 2 :]
        return "".join(out)

    def feed(self, data: bytes) -> list[tuple[str | None, str, str]]:
        self._raw += data
        self._text += self._dechunk()
        *lines, self._text = self._text.split("\n")
        self._pending += lines
        if "" not in self._pending:
            return []
        cut = len(self._pending) - self._pending[::-1].index("")
        complete, self._pending = self._pending[:cut], self._pending[cut:]
        return list(parse_sse(complete))


async def open_stream(port: int, token: str, last_id: int | None = None):
    """Open GET /api/events/ with a Bearer token on a loopback server; return (reader, writer)
    positioned at the body. Raises ConnectionError unless the answer is 200."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    if last_id is not None:
        request += f"Last-Event-ID: {last_id}\r\n"
    writer.write((request + "\r\n").encode())
    status = await reader.readline()
    if b" 200 " not in status:
        writer.close()
        raise ConnectionError(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer
