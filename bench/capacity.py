"""Section 9: capacity, the figures BENCHMARKS.md's capacity model is built from.

Worker, 1 -> 2 processes (one node, prefork concurrency 1, then 2):
- drain rate: N direct messages committed while the consumer is paused, then drained;
- steady rates stepped up (50, 100, 200, 400 messages/s sent one per transaction by this
  process): commit -> notification p99 at each, and the highest rate whose p99 <= 100 ms.
Web, 1 -> 2 processes (gunicorn, 1 then 2 sync workers; wrk with 2 connections per worker):
requests/s for each REST endpoint a client uses most. For every run the CPU used, in cores:
the worker's or gunicorn's processes, PostgreSQL's (all its processes on the machine) and the
whole machine's, read from /proc, so that where the two cores are the limit it shows.
`make bench-capacity` runs this section (and 8) alone.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from bench import data
from bench.harness import (
    OUT_DIR,
    CpuMeter,
    Results,
    Sizes,
    flush_redis,
    percentile,
    postgres_pids,
    process_tree,
    purge_queue,
    section_header,
    set_consuming,
    stop_worker,
    worker,
)
from bench.http import PAGE, Gunicorn, _expect_cache, _fixture, _request, _wrk
from bench.pipeline import (
    _commit_messages,
    _last_processed,
    _notifications_since,
    _pairs,
    _steady_latency,
)
from testkit import wait_until

SECTION = "9 capacity"
P99_BOUND_MS = 100.0


def _drain(pairs, n: int, timeout: float, processes: int) -> tuple[float, CpuMeter]:
    """Messages per second drained from a full queue, and the CPU it took."""
    set_consuming(False)
    since = datetime.now().astimezone()
    first_id, _ = _commit_messages(pairs, n)
    groups = {
        "worker": lambda: process_tree(worker(processes).process.pid),
        "postgres": postgres_pids,
    }
    with CpuMeter(groups) as cpu:
        started = time.time()
        set_consuming(True)
        wait_until(lambda: _notifications_since(first_id) >= n, timeout=timeout, interval=0.05)
    rate = n / (_last_processed(since) - started)
    purge_queue()  # the leftover tasks would only find their events done
    return rate, cpu


def _steps(results: Results, pairs, sizes: Sizes, processes: int, timeout: float) -> float:
    """p99 at each stepped rate; the highest achieved rate whose p99 stays <= 100 ms."""
    best = 0.0
    for rate in sizes.capacity_rates:
        latencies, achieved, _ = _steady_latency(pairs, rate, sizes.capacity_rate_seconds, timeout)
        p99 = percentile(latencies, 99)
        name = f"{processes} worker process(es), {rate} msgs/s asked: p99"
        results.add(SECTION, name, p99, "ms", note=f"achieved {achieved:.0f} msgs/s")
        if p99 <= P99_BOUND_MS:
            best = max(best, achieved)
    return best


def _workers(results: Results, sizes: Sizes) -> None:
    timeout = 180.0 if sizes.name == "full" else 60.0
    pairs = _pairs(50)
    rates = {}
    for processes in (1, 2):
        worker(processes)
        _drain(pairs, 20, timeout, processes)  # warm-up: connections, imports, caches
        rates[processes], cpu = _drain(pairs, sizes.pipeline_messages, timeout, processes)
        name = f"{processes} worker process(es): drain rate"
        results.add(SECTION, name, rates[processes], "notif/s", note=f"cores: {cpu.describe()}")
        best = _steps(results, pairs, sizes, processes, timeout)
        name = f"{processes} worker process(es): highest rate with p99 <= 100 ms"
        results.add(SECTION, name, best, "msgs/s", note="bounded by this one producer if all pass")
    results.add(SECTION, "drain rate: 2 worker processes / 1", rates[2] / rates[1])
    stop_worker()


def _endpoints(f: dict) -> dict[str, tuple[str, str, str]]:
    """name: (path, token, wrk script); the POSTs come from another user (no invalidation)."""
    from bench.http import LUA_POST, LUA_UNCACHED

    return {
        "GET /api/auth/me/": ("/api/auth/me/", f["token"], ""),
        "GET messages (cached)": (f["list_path"], f["token"], ""),
        "GET messages (uncached)": (f["list_path"], f["token"], LUA_UNCACHED % PAGE),
        "POST messages": ("/api/messaging/messages/", f["poster_token"], LUA_POST % f["other"].pk),
        "GET messages/unread/": ("/api/messaging/messages/unread/", f["token"], ""),
        "GET notifications/": ("/api/messaging/notifications/", f["token"], ""),
        "GET conversations/": ("/api/conversations/", f["token"], ""),
    }


def _web_fixture() -> dict:
    from messaging.models import Message, Notification

    f = _fixture()
    user = Message.objects.filter(receiver__isnull=False).order_by("-id").first().receiver
    Notification.objects.bulk_create(
        [Notification(user=user, message=m) for m in Message.objects.filter(receiver=user)[:PAGE]],
        ignore_conflicts=True,
    )
    data.make_conversation([user, f["other"]])
    return f


def _serve(processes: int, f: dict, seconds: int) -> dict[str, tuple[float, CpuMeter]]:
    cache_url = os.environ["BENCH_CACHE_URL"]
    env = dict(os.environ, CACHE_URL=cache_url, JWT_ACCESS_MINUTES="60")
    server = Gunicorn(env, OUT_DIR / f"gunicorn-{processes}.log", workers=processes)
    measured = {}
    try:
        server.wait_ready()
        for _ in range(5 * processes):
            _request(server.base, f["list_path"], f["token"])
        _expect_cache(server.base, f["list_path"], f["token"], "HIT", "the list is not cached")
        groups = {"gunicorn": lambda: process_tree(server.process.pid), "postgres": postgres_pids}
        for j, (name, (path, token, script)) in enumerate(_endpoints(f).items()):
            with CpuMeter(groups) as cpu:
                run = _wrk(server.base + path, seconds, token, script, f"cap{j}", 2 * processes)
            measured[name] = (run["requests"] / (run["duration_us"] / 1e6), cpu)
    finally:
        server.stop()
        purge_queue()
    return measured


def _web(results: Results, sizes: Sizes) -> None:
    flush_redis(os.environ["BENCH_CACHE_URL"])
    f = _web_fixture()
    one = _serve(1, f, sizes.capacity_http_seconds)
    two = _serve(2, f, sizes.capacity_http_seconds)
    for name, (rps1, cpu1) in one.items():
        rps2, cpu2 = two[name]
        note = f"1 process: {cpu1.describe()}"
        results.add(SECTION, f"{name}: req/s, 1 web process", rps1, "req/s", note=note)
        note = f"2 processes: {cpu2.describe()}"
        results.add(SECTION, f"{name}: req/s, 2 web processes", rps2, "req/s", note=note)
        results.add(SECTION, f"{name}: 2 web processes / 1", rps2 / rps1)


def run(results: Results, sizes: Sizes) -> None:
    section_header("9. Capacity: 1 -> 2 worker processes, 1 -> 2 web processes (CPU in cores)")
    purge_queue()
    _workers(results, sizes)
    _web(results, sizes)
