"""Section 10: ours beside naive implementations of the seed's endpoints (bench/naive.py), under
the same wrk load, on one gunicorn (2 sync workers) with the Celery worker consuming, as `make
run` runs them (SQLite, and a worker writing notifications while the POSTs come in; PostgreSQL
when DATABASE_URL names it).

Each pair alternates slice by slice (ABBA), wrk 1 thread 4 connections; the slices of each
endpoint are pooled. Figures: requests/s, p50 and p99 of each, the CPU time per request of the
web processes and of the worker (read from /proc: where the time goes when the two cores are
shared), and the ratios against targets:
- POST a direct message: ours writes the message and an outbox event and the worker makes the
  notification; the naive one writes the notification in the request. Ours p50 <= 1.1 x the
  naive p50 and ours p99 <= 1.5 x the naive p99;
- message list, 20 of 50: ours (the per-user versioned cache) leads the naive DRF list;
- unread, 20: ours (cached, read-your-writes) within 1.2 x the requests/s of a 60 s cache_page,
  which is stale by design (a new message does not show for up to a minute).
"""

from __future__ import annotations

import os
import shutil

from bench.harness import (
    OUT_DIR,
    CpuMeter,
    Results,
    Sizes,
    flush_redis,
    process_tree,
    purge_queue,
    section_header,
)
from bench.harness import worker as bench_worker
from bench.http import LUA_POST, Gunicorn, _fixture, _merge, _request, _wrk

SECTION = "10 baselines"
PAGE = 20

PAIRS = {
    "message list (20 of 50)": ("/api/messaging/messages/", "/api/bench/naive/messages/"),
    "unread (20)": ("/api/messaging/messages/unread/", "/api/bench/naive/unread/"),
    "POST a direct message": ("/api/messaging/messages/", "/api/bench/naive/messages/"),
}


def _run(base: str, path: str, f: dict, pair: str) -> tuple[str, str, str]:
    """(url, token, wrk script) of one side of a pair."""
    if pair.startswith("POST"):
        return f"{base}{path}", f["poster_token"], LUA_POST % f["other"].pk
    return f"{base}{path}?page_size={PAGE}", f["token"], ""


def _same_page(base: str, f: dict) -> None:
    """Both sides of each list pair answer the same page (the naive ones are not short-cuts)."""
    import json
    import urllib.request

    for pair, (ours, naive) in PAIRS.items():
        if pair.startswith("POST"):
            continue
        pages = []
        for path in (ours, naive):
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{base}{path}?page_size={PAGE}", headers={"Authorization": f"Bearer {f['token']}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                pages.append(json.loads(response.read())["results"])
        if pages[0] != pages[1]:
            raise AssertionError(f"{pair}: ours and the naive endpoint answer different pages")


Key = tuple[str, str]  # (pair, side)


def _measure(
    server: Gunicorn, worker_pid: int, f: dict, sizes: Sizes
) -> tuple[dict[Key, list[dict]], dict[Key, dict[str, float]]]:
    """wrk's results of each side's slices, and the CPU seconds each side's slices used per
    group of processes (the web server's, the worker's, the machine's)."""
    parts: dict[Key, list[dict]] = {}
    cpu: dict[Key, dict[str, float]] = {}
    groups = {
        "web": lambda: process_tree(server.process.pid),
        "worker": lambda: process_tree(worker_pid),
    }
    seconds = max(1, round(sizes.http_seconds / sizes.http_slices))
    for pair, paths in PAIRS.items():
        for slice_no in range(sizes.http_slices):
            sides = ("ours", "naive") if slice_no % 2 == 0 else ("naive", "ours")
            for side in sides:
                url, token, script = _run(server.base, paths[side == "naive"], f, pair)
                tag = f"b{len(parts)}-{slice_no}"
                with CpuMeter(groups) as meter:
                    result = _wrk(url, seconds, token, script, tag)
                parts.setdefault((pair, side), []).append(result)
                used = cpu.setdefault((pair, side), {})
                for name, cores in meter.cores.items():
                    used[name] = used.get(name, 0.0) + cores * meter.seconds
    return parts, cpu


def _pct(result: dict, p: float) -> float:
    return dict((q, v) for q, v in result["percentiles"])[p]


def _record_cpu(results: Results, name: str, merged: dict, used: dict[str, float]) -> None:
    """CPU milliseconds per request: the web processes' and the worker's, and the machine's."""
    per_request = {group: 1000 * seconds / merged["requests"] for group, seconds in used.items()}
    note = (
        f"web {per_request['web']:.2f} + worker {per_request['worker']:.2f} ms; "
        f"machine {per_request['machine']:.2f} ms, "
        f"{used['machine'] / merged['seconds']:.2f} of {os.cpu_count()} cores busy"
    )
    total = per_request["web"] + per_request["worker"]
    results.add(SECTION, f"{name}: CPU per request (web + worker)", total, "ms", note=note)


def _record(results: Results, merged: dict[Key, dict], cpu: dict[Key, dict[str, float]]) -> None:
    rate = {key: m["requests"] / m["seconds"] for key, m in merged.items()}
    for (pair, side), m in merged.items():
        note = f"p50 {_pct(m, 50):.1f} ms, p99 {_pct(m, 99):.1f} ms, {m['requests']:,} requests"
        results.add(SECTION, f"{pair}, {side}: requests/s", rate[(pair, side)], "req/s", note=note)
        _record_cpu(results, f"{pair}, {side}", m, cpu[(pair, side)])
    post = "POST a direct message"
    ours, naive = merged[(post, "ours")], merged[(post, "naive")]
    results.add(
        SECTION, f"{post}: ours / naive (requests/s)", rate[(post, "ours")] / rate[(post, "naive")]
    )
    for p, bound in ((50, 1.1), (99, 1.5)):
        ratio = _pct(ours, p) / _pct(naive, p)
        results.add(SECTION, f"{post}: ours p{p} / naive p{p}", ratio, target=("<=", bound))
    lists = "message list (20 of 50)"
    ratio = rate[(lists, "ours")] / rate[(lists, "naive")]
    results.add(SECTION, f"{lists}: ours / naive (requests/s)", ratio, target=(">=", 1.0))
    unread = "unread (20)"
    ratio = rate[(unread, "naive")] / rate[(unread, "ours")]
    note = "the stale 60 s cache_page over ours: ours stays read-your-writes"
    results.add(
        SECTION,
        f"{unread}: stale page cache / ours (requests/s)",
        ratio,
        target=("<=", 1.2),
        note=note,
    )
    results.series["baselines"] = {
        f"{pair}, {side}": m["percentiles"] for (pair, side), m in merged.items()
    }


def run(results: Results, sizes: Sizes) -> None:
    section_header(
        f"10. Ours beside naive baselines: gunicorn 2 workers and the Celery worker, wrk 1 thread "
        f"4 connections, {sizes.http_seconds}s per endpoint in {sizes.http_slices} ABBA slices"
    )
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    purge_queue()
    # make run's shape: the worker writes notifications while the POSTs come in
    worker_pid = bench_worker().process.pid
    cache_url = os.environ["BENCH_CACHE_URL"]
    flush_redis(cache_url)
    f = _fixture()
    env = dict(os.environ, CACHE_URL=cache_url, JWT_ACCESS_MINUTES="60")
    server = Gunicorn(env, OUT_DIR / "gunicorn-baselines.log")
    try:
        server.wait_ready()
        for _ in range(10):  # warm both workers and both caches
            for paths in PAIRS.values():
                for path in paths:
                    _request(server.base, f"{path}?page_size={PAGE}", f["token"])
        # ... and both sides' POSTs: a web process's first publish connects to the broker
        # (hundreds of ms), which would fall in the first slice, always ours
        warm_post = {"receiver": f["other"].pk, "content": "warm-up"}
        for _ in range(10):
            for path in PAIRS["POST a direct message"]:
                _request(server.base, path, f["poster_token"], warm_post)
        _same_page(server.base, f)
        parts, cpu = _measure(server, worker_pid, f, sizes)
    finally:
        server.stop()
        purge_queue()
        flush_redis(cache_url)
    _record(results, {key: _merge(slices) for key, slices in parts.items()}, cpu)
