"""Shared machinery of the benchmarks: sizes, the private database, figures, timing, cleanup."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"

# Redis databases of their own, so that a run never eats the tasks or the cache of a running
# system (`make run` uses 0) or of the test suite (14). The bench purges and flushes them.
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/13"
DEFAULT_REDIS_CACHE_URL = "redis://127.0.0.1:6379/12"


@dataclass(frozen=True)
class Sizes:
    """How much each section does. `smoke` runs every section, tiny, in CI."""

    name: str
    time_limit: int  # seconds for the whole run, enforced by SIGALRM
    query_sizes: tuple[int, ...] = (1, 20, 100)
    thread_depths: tuple[int, ...] = (1, 10, 50)
    cache_page: int = 50
    cache_rounds: int = 300
    write_rounds: int = 150
    group_participants: int = 50
    pipeline_messages: int = 5_000
    noop_tasks: int = 500
    steady_rate: int = 50  # messages per second
    steady_seconds: float = 30.0
    purge_messages: int = 100_000
    writer_baseline_seconds: float = 3.0
    http_seconds: int = 20  # per endpoint, in total
    http_slices: int = 4  # interleaved wrk runs per endpoint, so drift touches all alike
    isolation_rate: int = 20  # messages per second while a big purge runs
    isolation_idle_seconds: float = 15.0
    capacity_rates: tuple[int, ...] = (50, 100, 200, 400)  # messages per second, stepped up
    capacity_rate_seconds: float = 6.0
    capacity_http_seconds: int = 4  # per endpoint and number of web processes
    live_clients: int = 100  # connected while messages flow at steady_rate
    live_idle_streams: int = 5_000
    live_idle_seconds: float = 30.0  # longer than the 25 s heartbeat period
    live_fanout: int = 500
    live_fanout_messages: int = 20
    live_replay_events: int = 1_000


FULL = Sizes(name="full", time_limit=900)
SMOKE = Sizes(
    name="smoke",
    time_limit=300,
    cache_rounds=25,
    write_rounds=10,
    pipeline_messages=200,
    noop_tasks=100,
    steady_seconds=3.0,
    purge_messages=2_000,
    writer_baseline_seconds=0.5,
    http_seconds=2,
    http_slices=1,
    isolation_idle_seconds=2.0,
    capacity_rates=(20, 50),
    capacity_rate_seconds=1.0,
    capacity_http_seconds=1,
    live_clients=20,
    live_idle_streams=200,
    live_idle_seconds=3.0,
    live_fanout=50,
    live_fanout_messages=3,
    live_replay_events=200,
)


# --- Figures ----------------------------------------------------------------------------------


@dataclass
class Figure:
    """One printed number, with its target (if it has one) and whether it was met."""

    section: str
    name: str
    value: float | None
    unit: str = ""
    target: str = ""  # e.g. "<= 0.2"; empty for figures that only inform
    ok: bool | None = None
    note: str = ""

    def formatted(self) -> str:
        if self.value is None:
            return "n/a"
        value = self.value
        if isinstance(value, float) and not value.is_integer():
            magnitude = abs(value)
            text = f"{value:,.3f}" if magnitude < 10 else f"{value:,.1f}"
        else:
            text = f"{int(value):,}"
        return f"{text} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        if not self.target:
            return ""
        if self.ok is None:
            return "ERROR"
        return "PASS" if self.ok else "MISS"


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)  # raw distributions for the plot
    meta: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        section: str,
        name: str,
        value: float | None,
        unit: str = "",
        *,
        target: tuple[str, float] | None = None,
        ok: bool | None = None,
        target_text: str = "",
        note: str = "",
    ) -> Figure:
        text = target_text
        if target is not None:
            op, bound = target
            text = text or f"{op} {bound:g}"
            if value is not None:
                ok = _COMPARE[op](value, bound)
        figure = Figure(section, name, value, unit, text, ok, note)
        self.figures.append(figure)
        line = f"  {name:<58} {figure.formatted():>18}"
        if figure.target:
            line += f"   target {figure.target:<10} {figure.verdict}"
        if note:
            line += f"   ({note})"
        print(line, flush=True)
        return figure

    def table(self) -> str:
        rows = [("section", "figure", "value", "target", "result")]
        rows += [
            (f.section, f.name, f.formatted(), f.target, f.verdict)
            for f in self.figures
            if f.target
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for i, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def dump(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "meta": self.meta,
            "figures": [asdict(f) for f in self.figures],
            "errors": self.errors,
            "series": self.series,
        }
        path.write_text(json.dumps(data, indent=1, default=str))


def section_header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# --- Numbers ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), p in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(seconds: float) -> float:
    return seconds * 1000.0


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed time in seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


# --- The run's time limit ---------------------------------------------------------------------


class BenchTimeout(Exception):
    pass


def _raise_timeout(signum, frame):
    raise BenchTimeout("the benchmark ran past its time limit")


def arm_time_limit(seconds: int) -> None:
    """Bound the whole run: SIGALRM interrupts the main thread, whose `finally` blocks clean up."""
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.alarm(seconds)


def install_sigterm_handler() -> None:
    """Turn SIGTERM/SIGINT into SystemExit so that cleanup runs."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# --- The private database ---------------------------------------------------------------------


class BenchDatabase:
    """A database of the run's own: a fresh SQLite file, or a fresh PostgreSQL database created
    on the server that DATABASE_URL names. Dropped at the end, whatever happened."""

    def __init__(self, base_url: str | None, var_dir: Path) -> None:
        self.base_url = base_url or ""
        self.var_dir = var_dir
        self.token = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.is_postgres = self.base_url.startswith(("postgres://", "postgresql://"))
        self.url = ""
        self.name = ""
        self._sqlite_dir: Path | None = None

    def create(self) -> str:
        if self.is_postgres:
            self.name = f"bench_{self.token}"
            with self._admin_connection() as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            parts = urlsplit(self.base_url)
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
        elif not self.base_url or self.base_url.startswith("sqlite:"):
            self._sqlite_dir = self.var_dir / f"bench-{self.token}"
            self._sqlite_dir.mkdir(parents=True, exist_ok=True)
            self.name = str(self._sqlite_dir / "bench.sqlite3")
            self.url = f"sqlite:///{self.name}"
        else:
            raise SystemExit(f"bench: unsupported DATABASE_URL {self.base_url!r}")
        return self.url

    def _admin_connection(self):
        import psycopg

        parts = urlsplit(self.base_url)
        return psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or None,
            dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def drop(self) -> None:
        if self.is_postgres and self.name:
            with self._admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        elif self._sqlite_dir is not None:
            shutil.rmtree(self._sqlite_dir, ignore_errors=True)
        self.name = ""

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.is_postgres else "SQLite"


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


# --- Django helpers (import after django.setup()) ---------------------------------------------


def queue_names() -> list[str]:
    """The bench broker's queues: latency (Celery's default) and bulk."""
    from celery_app import app

    return [queue.name for queue in app.conf.task_queues]


def purge_queue() -> int:
    """Drop every task waiting on the bench broker's queues; return how many."""
    from celery_app import app
    from outbox.services import outbox_forget_queued

    with app.connection_for_write() as conn:
        purged = sum(conn.default_channel.queue_purge(name) or 0 for name in queue_names())
    outbox_forget_queued()  # the coalesced tasks the marks stood for are gone
    return purged


def queue_length(name: str | None = None) -> int:
    """Tasks waiting on a queue of the bench broker (the latency queue unless named)."""
    from celery_app import app

    with app.connection_for_write() as conn:
        try:
            queue = name or app.conf.task_default_queue
            return conn.default_channel.queue_declare(queue, passive=True).message_count
        except conn.channel_errors:  # Redis drops an empty queue's list: "no queue"
            return 0


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


# --- The worker ---------------------------------------------------------------------------------

_worker = None


def start_worker(*, concurrency: int = 2, queues: str = "", name: str = "worker"):
    """A real worker process on the bench broker (the bench settings: a production worker);
    it also imports bench.tasks (the no-op task). `queues` is its -Q (default: every queue)."""
    from testkit import WorkerProcess

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    process = WorkerProcess(
        concurrency=concurrency,
        extra_args=["--include", "bench.tasks", *(["-Q", queues] if queues else [])],
        log_path=OUT_DIR / f"{name}.log",
        env={"DJANGO_SETTINGS_MODULE": "bench.settings"},
    )
    try:
        process.wait_ready(timeout=60)
    except BaseException:
        process.stop()
        raise
    return process


def worker(concurrency: int = 2):
    """One worker process (prefork, concurrency 2 unless asked otherwise) on every queue,
    shared by the sections that need one; restarted if asked for another concurrency."""
    global _worker
    if _worker is not None and _worker.concurrency != concurrency:
        stop_worker()
    if _worker is None:
        _worker = start_worker(concurrency=concurrency)
        _worker.concurrency = concurrency
    return _worker


def stop_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.stop(timeout=20)
        _worker = None


def set_consuming(on: bool) -> None:
    """Pause or resume the running worker's consumption of its queues (remote control).

    The worker as it is: `worker()` would replace one of another concurrency (section 9's
    one-process worker) with the default one."""
    from celery_app import app

    current = _worker if _worker is not None else worker()
    method = app.control.add_consumer if on else app.control.cancel_consumer
    for name in queue_names():
        replies = method(name, destination=[current.hostname], reply=True, timeout=5)
        if not replies:
            raise RuntimeError(f"the worker did not answer {method.__name__}")


# --- CPU ----------------------------------------------------------------------------------------

_HZ = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a gunicorn master and its workers, a Celery pool)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return found


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (other users' backends included)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            pass
    return pids


def _ticks(pid: int) -> int | None:
    """CPU ticks of the process and of its children it has reaped; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime


def _used(start: dict[int, int | None]) -> int:
    """Ticks used since `start` by the processes still there (a gone one's are in its parent's
    children's times once reaped)."""
    used = 0
    for pid, before in start.items():
        after = _ticks(pid)
        if before is not None and after is not None:
            used += after - before
    return used


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU used while it is open, in cores (1.0 = one core busy the whole time): per group of
    processes (read from /proc/<pid>/stat) and for the whole machine (/proc/stat)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.cores: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {
            name: {pid: _ticks(pid) for pid in find()} for name, find in self.groups.items()
        }
        self._machine = _machine_ticks()
        self._t = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        seconds = self.seconds = time.monotonic() - self._t
        for name, start in self._start.items():
            self.cores[name] = _used(start) / _HZ / seconds
        busy, total = (b - a for a, b in zip(self._machine, _machine_ticks(), strict=True))
        self.cores["machine"] = os.cpu_count() * busy / max(1, total)

    def describe(self) -> str:
        return ", ".join(f"{name} {value:.2f}" for name, value in self.cores.items())
