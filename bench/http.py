"""Section 6: HTTP under load: gunicorn (2 sync workers) and wrk on 127.0.0.1.

One wrk run per endpoint, each for the same time with the same connections:
- trivial: GET /api/bench/ping/ (bench/urls.py: no auth, no query): the server's ceiling;
- GET /api/auth/me/ (JWT authentication and one query), for information;
- cached list: GET /api/messaging/messages/?page_size=50, the same URL every time: hits;
- uncached list: the same page, with a query string unique to each request, so that each one
  misses (and, like any miss, computes the page and stores it);
- message POST: POST /api/messaging/messages/ (a direct message; each publishes its task).
The list cache is the Redis cache (BENCH_CACHE_URL) so that both gunicorn workers share it. No
Celery worker runs here (it would take CPU from the server; section 4 measures its work).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench import data
from bench.harness import (
    OUT_DIR,
    ROOT,
    Results,
    Sizes,
    flush_redis,
    free_port,
    purge_queue,
    section_header,
    stop_worker,
    wait_for,
)
from messaging.models import Message

SECTION = "6 http"
CONNECTIONS = 4  # two per gunicorn worker: one in service, one waiting
PAGE = 50

LUA_DONE = r"""
local pcts = {}
for p = 1, 99 do pcts[#pcts + 1] = p end
for _, p in ipairs({99.5, 99.9, 99.99}) do pcts[#pcts + 1] = p end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "max_us": %d, "mean_us": %.1f, "percentiles": [',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.max, latency.mean))
  for i, p in ipairs(pcts) do
    io.write(string.format('%s[%g, %d]', i > 1 and ', ' or '', p, latency:percentile(p)))
  end
  io.write(']}\n')
end
"""

LUA_UNCACHED = r"""
local counter = 0
local tag = tostring(os.time())
request = function()
  counter = counter + 1
  local path = "/api/messaging/messages/?page_size=%d&nocache=" .. tag .. "-" .. counter
  return wrk.format("GET", path)
end
"""

LUA_POST = r"""
wrk.method = "POST"
wrk.body = '{"receiver": %d, "content": "hello from wrk"}'
wrk.headers["Content-Type"] = "application/json"
"""


class Gunicorn:
    """gunicorn serving the project on a free loopback port, in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "messaging_app.wsgi:application",
                "--workers=2",
                f"--bind=127.0.0.1:{self.port}",
                "--log-level=warning",
                "--timeout=30",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited early; see bench/out/gunicorn.log")
            try:
                with urllib.request.urlopen(f"{self.base}/api/bench/ping/", timeout=1) as r:  # noqa: S310
                    return r.status == 200
            except OSError:
                return False

        wait_for(ready, timeout=timeout, interval=0.2, what="gunicorn")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def _request(base: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL built here
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, dict(response.headers)


def _wrk(url: str, seconds: int, token: str | None, script: str, name: str) -> dict:
    path = OUT_DIR / f"wrk-{name}.lua"
    path.write_text(script + LUA_DONE)
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(path)]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    completed = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    lines = [x for x in completed.stdout.splitlines() if x.startswith("BENCH_JSON ")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-500:]}")
    result = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    if errors:
        raise RuntimeError(f"wrk {name}: {errors} errors {result}; stdout:\n{completed.stdout}")
    return result


def _merge(slices: list[dict]) -> dict:
    """Pool the slices of one endpoint: counts add up; each slice's latency percentiles stand
    for its share of the requests, from which the pooled percentiles are read."""
    pooled: list[tuple[float, float]] = []  # (latency µs, weight in requests)
    for part in slices:
        previous = 0.0
        for p, value in part["percentiles"]:
            pooled.append((value, part["requests"] * (p - previous) / 100))
            previous = p
    pooled.sort()
    total = sum(w for _, w in pooled)

    def at(p: float) -> float:
        goal, running = total * p / 100, 0.0
        for value, weight in pooled:
            running += weight
            if running >= goal:
                return value
        return pooled[-1][0]

    return {
        "requests": sum(x["requests"] for x in slices),
        "seconds": sum(x["duration_us"] for x in slices) / 1e6,
        "max_ms": max(x["max_us"] for x in slices) / 1000,
        "percentiles": [[p, at(p) / 1000] for p, _ in slices[0]["percentiles"]],
    }


def run(results: Results, sizes: Sizes) -> None:
    slices = sizes.http_slices
    section_header(
        f"6. HTTP: gunicorn 2 workers, wrk 1 thread {CONNECTIONS} connections, "
        f"{sizes.http_seconds}s per endpoint in {slices} interleaved slices"
    )
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    stop_worker()
    purge_queue()
    cache_url = os.environ["BENCH_CACHE_URL"]
    flush_redis(cache_url)

    from rest_framework_simplejwt.tokens import AccessToken

    user, poster, other = data.make_users(3, "http")
    data.bulk_messages(
        [{"sender_id": user.pk, "receiver_id": other.pk}] * (PAGE // 2)
        + [{"sender_id": other.pk, "receiver_id": user.pk}] * (PAGE - PAGE // 2 + 10)
    )
    token, poster_token = str(AccessToken.for_user(user)), str(AccessToken.for_user(poster))

    env = dict(os.environ, CACHE_URL=cache_url, JWT_ACCESS_MINUTES="60")
    server = Gunicorn(env, OUT_DIR / "gunicorn.log")
    try:
        server.wait_ready()
        base = server.base
        list_path = f"/api/messaging/messages/?page_size={PAGE}"
        for _ in range(10):  # warm both workers
            _request(base, list_path, token)
            _request(base, "/api/auth/me/", token)
        _, headers = _request(base, list_path, token)
        if headers.get("X-Cache") != "HIT":
            raise RuntimeError("the list is not served from the shared cache")
        _, headers = _request(base, list_path + "&nocache=probe", token)
        if headers.get("X-Cache") != "MISS":
            raise RuntimeError("a new query string should miss")

        # The poster is another user, so that the POSTs never invalidate the cached list.
        runs = {
            "trivial (ping)": (f"{base}/api/bench/ping/", None, ""),
            "GET /api/auth/me/": (f"{base}/api/auth/me/", token, ""),
            "cached list": (f"{base}{list_path}", token, ""),
            "uncached list": (f"{base}{list_path}", token, LUA_UNCACHED % PAGE),
            "message POST": (f"{base}/api/messaging/messages/", poster_token, LUA_POST % other.pk),
        }
        parts: dict[str, list[dict]] = {name: [] for name in runs}
        seconds = max(1, round(sizes.http_seconds / slices))
        for _ in range(slices):
            for j, (name, (url, auth, script)) in enumerate(runs.items()):
                parts[name].append(_wrk(url, seconds, auth, script, f"run{j}"))
        created = Message.objects.filter(sender=poster).count()
        posted = sum(x["requests"] for x in parts["message POST"])
        # wrk does not count the requests still in flight when it stops
        if not posted <= created <= posted + CONNECTIONS * slices:
            raise RuntimeError(f"{created} messages created by {posted} POSTs")
        _, headers = _request(base, list_path, token)
        if headers.get("X-Cache") != "HIT":
            raise RuntimeError("the cached list was invalidated during the runs")
    finally:
        server.stop()
        purge_queue()
        flush_redis(cache_url)

    measured = {name: _merge(x) for name, x in parts.items()}
    ceiling_rps = measured["trivial (ping)"]["requests"] / measured["trivial (ping)"]["seconds"]
    rates: dict[str, float] = {}
    for name, result in measured.items():
        rates[name] = rps = result["requests"] / result["seconds"]
        pct = dict((p, v) for p, v in result["percentiles"])
        results.add(
            SECTION,
            f"{name}: requests/s",
            rps,
            "req/s",
            note=f"{result['requests']:,} requests in {result['seconds']:.0f}s",
        )
        results.add(
            SECTION,
            f"{name}: p99 latency",
            pct[99],
            "ms",
            note=f"p50 {pct[50]:.1f} ms, max {result['max_ms']:.0f} ms",
        )
        if name != "trivial (ping)":
            results.add(SECTION, f"{name}: requests/s / trivial", rps / ceiling_rps)
    results.add(
        SECTION,
        "cached list / uncached list (requests/s)",
        rates["cached list"] / rates["uncached list"],
    )
    results.series["http"] = {name: result["percentiles"] for name, result in measured.items()}
