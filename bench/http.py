"""Section 6: HTTP under load: gunicorn (2 sync workers) and wrk on 127.0.0.1, today's code and
the code it changes, side by side.

"After" is this tree; "before" is BENCH_BASELINE_REF (default: where this branch left `main`, their
merge base) exported with `git archive` into VAR_DIR/bench-baseline and served by a second
gunicorn from there, against the same database and cache. The two share one database, so a
baseline whose migrations differ from this tree's is not run (the section says so and reports
this tree alone); nor is this tree compared with itself (on main the merge base is HEAD). One
server runs at a time (they share the database); they alternate slice by slice, the first of each
pair alternating too (ABBA), so that the machine's drift touches both alike. Each REST
endpoint's figure is the median, over the slices, of after / before requests per second (each
pair run back to back), with a target of >= 0.9.

One wrk run per endpoint, each for the same time with the same connections:
- trivial: GET /api/bench/ping/ (bench/urls.py: no auth, no query): the server's ceiling;
- GET /api/auth/me/ (JWT authentication and one query), for information;
- cached list: GET /api/messaging/messages/?page_size=50, the same URL every time: hits;
- uncached list: the same page, under a cursor unique to each request, so that each one misses
  (and, like any miss, computes the page and stores it);
- message POST: POST /api/messaging/messages/ (a direct message; each publishes its task).
The list cache is the Redis cache (BENCH_CACHE_URL) so that both gunicorn workers share it. No
Celery worker runs here (it would take CPU from the server; section 4 measures its work).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from bench import data
from bench.harness import (
    OUT_DIR,
    ROOT,
    Results,
    Sizes,
    flush_redis,
    median,
    purge_queue,
    section_header,
    stop_worker,
)
from messaging.models import Message
from testkit import free_port, stop_process_group, wait_until

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

# The list cache keys on the cursor (and the page size), not on the rest of the query: each
# request names the same first page through a cursor no other request used. DRF's cursor is
# base64 of a query string; it ignores the unknown `n`, and `p` lies after every message.
LUA_UNCACHED = r"""
local counter = 0
local tag = tostring(os.time())
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local escaped = {["+"] = "%%2B", ["/"] = "%%2F", ["="] = "%%3D"}

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for j = 3, 0, -1 do
      local k = math.fmod(math.floor(n / 64 ^ j), 64)
      out[#out + 1] = alphabet:sub(k + 1, k + 1)
    end
    if not b then
      out[#out - 1], out[#out] = "=", "="
    elseif not c then
      out[#out] = "="
    end
  end
  return table.concat(out)
end

request = function()
  counter = counter + 1
  local cursor = base64("p=2100-01-01T00:00:00Z&n=" .. tag .. "-" .. counter)
  local path = "/api/messaging/messages/?page_size=%d&cursor=" .. cursor:gsub("[+/=]", escaped)
  return wrk.format("GET", path)
end
"""


def fresh_cursor(tag: str) -> str:
    """What LUA_UNCACHED sends: a cursor for the first page that no other request used."""
    raw = base64.b64encode(f"p=2100-01-01T00:00:00Z&n={tag}".encode()).decode()
    return urllib.parse.quote(raw, safe="")


LUA_POST = r"""
wrk.method = "POST"
wrk.body = '{"receiver": %d, "content": "hello from wrk"}'
wrk.headers["Content-Type"] = "application/json"
"""


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=60, check=False)


def _baseline_ref() -> str:
    chosen = os.environ.get("BENCH_BASELINE_REF")
    if chosen:
        return chosen
    base = _git("merge-base", "HEAD", "main")
    return base.stdout.decode().strip()[:12] if base.returncode == 0 else "main"


BASELINE_REF = _baseline_ref()


BASELINE_DIR = Path(os.environ.get("VAR_DIR", ROOT / "var")) / "bench-baseline"


def _baseline_refusal() -> str | None:
    """Why the baseline cannot run beside this tree, or None."""
    here = _git("rev-parse", "HEAD").stdout.decode().strip()
    there = _git("rev-parse", "--verify", f"{BASELINE_REF}^{{commit}}")
    if there.returncode != 0:
        return f"{BASELINE_REF} is not a commit here"
    if there.stdout.decode().strip() == here and not _git("status", "--porcelain").stdout:
        return f"{BASELINE_REF} is this tree (set BENCH_BASELINE_REF to compare with another)"
    # Migrations of this tree, committed or not, against the baseline's.
    changed = _git("diff", "--name-only", BASELINE_REF, "--", "*/migrations/*.py")
    if changed.stdout.strip():
        return f"{BASELINE_REF} has another schema (its migrations differ; one database is shared)"
    return None


def baseline_tree() -> Path | None:
    """The baseline's source exported under VAR_DIR/bench-baseline (removed at the end of the
    section), or None without git or the ref, or when it cannot share this tree's database."""
    refusal = _baseline_refusal()
    if refusal is not None:
        print(f"  no before/after: {refusal}")
        return None
    target = BASELINE_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = _git("archive", BASELINE_REF)
    if archive.returncode != 0:
        print(f"  no baseline: git archive {BASELINE_REF} failed: {archive.stderr[-200:]!r}")
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True, timeout=60)
    return target


class Gunicorn:
    """gunicorn serving the project (from `root`) on a free loopback port, in its own process
    group."""

    def __init__(
        self, env: dict[str, str], log_path: Path, root: Path = ROOT, workers: int = 2
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "messaging_app.wsgi:application",
                f"--workers={workers}",
                f"--bind=127.0.0.1:{self.port}",
                "--log-level=warning",
                "--timeout=30",
            ],
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
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

        wait_until(ready, timeout=timeout, interval=0.2, what="gunicorn")

    def stop(self) -> None:
        stop_process_group(self.process, timeout=15)
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


def _wrk(
    url: str,
    seconds: int,
    token: str | None,
    script: str,
    name: str,
    connections: int = CONNECTIONS,
) -> dict:
    path = OUT_DIR / f"wrk-{name}.lua"
    path.write_text(script + LUA_DONE)
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(path)]
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


def _fixture() -> dict:
    """A reader with a page of messages, a poster, and their tokens."""
    from rest_framework_simplejwt.tokens import AccessToken

    user, poster, other = data.make_users(3, "http")
    data.bulk_messages(
        [{"sender_id": user.pk, "receiver_id": other.pk}] * (PAGE // 2)
        + [{"sender_id": other.pk, "receiver_id": user.pk}] * (PAGE - PAGE // 2 + 10)
    )
    return {
        "poster": poster,
        "other": other,
        "token": str(AccessToken.for_user(user)),
        "poster_token": str(AccessToken.for_user(poster)),
        "list_path": f"/api/messaging/messages/?page_size={PAGE}",
    }


def _expect_cache(base: str, path: str, token: str, expected: str, problem: str) -> None:
    _, headers = _request(base, path, token)
    if headers.get("X-Cache") != expected:
        raise RuntimeError(problem)


def _runs(base: str, f: dict) -> dict[str, tuple[str, str | None, str]]:
    # The poster is another user, so that the POSTs never invalidate the cached list.
    return {
        "trivial (ping)": (f"{base}/api/bench/ping/", None, ""),
        "GET /api/auth/me/": (f"{base}/api/auth/me/", f["token"], ""),
        "cached list": (f"{base}{f['list_path']}", f["token"], ""),
        "uncached list": (f"{base}{f['list_path']}", f["token"], LUA_UNCACHED % PAGE),
        "message POST": (
            f"{base}/api/messaging/messages/",
            f["poster_token"],
            LUA_POST % f["other"].pk,
        ),
    }


def _warm(base: str, f: dict, label: str) -> None:
    """Warm both workers, and check the cache behaves."""
    list_path, token = f["list_path"], f["token"]
    for _ in range(10):
        _request(base, list_path, token)
        _request(base, "/api/auth/me/", token)
    _expect_cache(base, list_path, token, "HIT", "the list is not served from the shared cache")
    probe = f"{list_path}&cursor={fresh_cursor(f'probe-{label}')}"  # one cache for both servers
    _expect_cache(base, probe, token, "MISS", "a new cursor should miss")


def _slice(server: Gunicorn, f: dict, seconds: int, tag: str) -> dict[str, dict]:
    """Warm a freshly started server, run wrk on each endpoint, check nothing invalidated the
    cached list."""
    server.wait_ready()
    _warm(server.base, f, tag)
    measured = {
        name: _wrk(url, seconds, auth, script, f"run{j}-{tag}")
        for j, (name, (url, auth, script)) in enumerate(_runs(server.base, f).items())
    }
    _expect_cache(server.base, f["list_path"], f["token"], "HIT", "invalidated during the runs")
    return measured


def _measure(roots: dict[str, Path], env: dict, f: dict, sizes: Sizes) -> dict[tuple, list]:
    """Slices of every endpoint, one server at a time (never both: they share the database),
    ABBA: who goes first alternates between slices, so that an order effect favours neither."""
    parts: dict[tuple, list[dict]] = {}
    seconds = max(1, round(sizes.http_seconds / sizes.http_slices))
    for i in range(sizes.http_slices):
        for label in list(roots)[:: 1 if i % 2 == 0 else -1]:
            server = Gunicorn(env, OUT_DIR / f"gunicorn-{label}.log", root=roots[label])
            try:
                for name, result in _slice(server, f, seconds, f"{label}{i}").items():
                    parts.setdefault((label, name), []).append(result)
            finally:
                server.stop()
    created = Message.objects.filter(sender=f["poster"]).count()
    posted = sum(
        x["requests"] for (_, name), xs in parts.items() if name == "message POST" for x in xs
    )
    # wrk does not count the requests still in flight when it stops
    if not posted <= created <= posted + CONNECTIONS * sizes.http_slices * len(roots):
        raise RuntimeError(f"{created} messages created by {posted} POSTs")
    return parts


def _record(results: Results, measured: dict[str, dict]) -> None:
    ceiling_rps = measured["trivial (ping)"]["requests"] / measured["trivial (ping)"]["seconds"]
    rates: dict[str, float] = {}
    for name, result in measured.items():
        rates[name] = rps = result["requests"] / result["seconds"]
        pct = dict((p, v) for p, v in result["percentiles"])
        note = f"{result['requests']:,} requests in {result['seconds']:.0f}s"
        results.add(SECTION, f"{name}: requests/s", rps, "req/s", note=note)
        note = f"p50 {pct[50]:.1f} ms, max {result['max_ms']:.0f} ms"
        results.add(SECTION, f"{name}: p99 latency", pct[99], "ms", note=note)
        if name != "trivial (ping)":
            results.add(SECTION, f"{name}: requests/s / trivial", rps / ceiling_rps)
    results.add(
        SECTION,
        "cached list / uncached list (requests/s)",
        rates["cached list"] / rates["uncached list"],
    )
    # The cost of a request against authentication alone (GET /api/auth/me/), in server time.
    me = rates["GET /api/auth/me/"]
    for name in ("uncached list", "message POST"):
        results.add(SECTION, f"cost of {name} / cost of me", me / rates[name], target=("<=", 2.0))
    results.series["http"] = {name: result["percentiles"] for name, result in measured.items()}


def _rate(result: dict) -> float:
    return result["requests"] / (result["duration_us"] / 1e6)


def _record_before_after(results: Results, parts: dict[tuple, list[dict]]) -> None:
    """Per endpoint, the median over the slices of after / before, each pair of slices run one
    right after the other: a load spike on the shared machine skews one pair, not the figure."""
    for (label, name), slices in parts.items():
        if label != "after" or name == "trivial (ping)":
            continue
        pairs = list(zip(slices, parts[("before", name)], strict=True))
        ratios = sorted(_rate(a) / _rate(b) for a, b in pairs)
        note = (
            f"pairs {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"{median([_rate(b) for _, b in pairs]):,.0f} -> "
            f"{median([_rate(a) for a, _ in pairs]):,.0f} req/s; before = {BASELINE_REF}"
        )
        results.add(
            SECTION,
            f"{name}: after / before (requests/s)",
            median(ratios),
            target=(">=", 0.9),
            note=note,
        )


def run(results: Results, sizes: Sizes) -> None:
    section_header(
        f"6. HTTP: gunicorn 2 workers, wrk 1 thread {CONNECTIONS} connections, "
        f"{sizes.http_seconds}s per endpoint in {sizes.http_slices} interleaved slices, "
        f"beside {BASELINE_REF} in alternating slices where it can run"
    )
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    stop_worker()
    purge_queue()
    cache_url = os.environ["BENCH_CACHE_URL"]
    flush_redis(cache_url)
    fixture = _fixture()
    # Cached entries outlive the section (with two servers it runs longer than the default 60 s
    # lifetime): the HIT check after each slice then tells an invalidation from an expiry.
    # DJANGO_SECURE_SSL_REDIRECT: older trees' bench settings did not turn the redirect off.
    env = dict(
        os.environ,
        CACHE_URL=cache_url,
        JWT_ACCESS_MINUTES="60",
        MESSAGE_LIST_CACHE_TIMEOUT="900",
        DJANGO_SECURE_SSL_REDIRECT="0",
    )
    roots = {"after": ROOT}
    baseline = baseline_tree()
    if baseline is not None:
        roots["before"] = baseline
    try:
        parts = _measure(roots, env, fixture, sizes)
    finally:
        purge_queue()
        flush_redis(cache_url)
        shutil.rmtree(BASELINE_DIR, ignore_errors=True)
    merged = {key: _merge(x) for key, x in parts.items()}
    after = {name: m for (label, name), m in merged.items() if label == "after"}
    _record(results, after)
    if baseline is not None:
        _record_before_after(results, parts)
