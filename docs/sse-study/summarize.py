"""Print the markdown tables of RESULTS.md from results/*.jsonl (medians of the repeats)."""
import json
import os
import statistics
from collections import defaultdict


def load(name):
    p = os.path.join("results", name)
    if not os.path.exists(p):
        return []
    return [json.loads(line) for line in open(p) if line.strip()]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def rng(xs, nd=1):
    xs = [x for x in xs if x is not None]
    return f"{fmt(min(xs), nd)}–{fmt(max(xs), nd)}" if len(xs) > 1 else ""


def streams():
    rows = load("a_streams.jsonl")
    g = defaultdict(list)
    for r in rows:
        g[(r.get("path", "/sse/"), r["server"], r["n"])].append(r)
    print("| server | stream path | N | runs | connect all N (s) | KiB RSS / conn | RSS base → with N (MiB) | threads with N | idle CPU % (60 s, N conns) | idle CPU % (0 conns) | heartbeats recv'd (expect 3N) | disconnect → `finally` (ms, last of 50) | load avg 1m (min–max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (path, s, n), rs in sorted(g.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        print("| {} | {} | {} | {} | {} ({}) | {} ({}) | {} → {} | {} | {} ({}) | {} | {} | {} | {} |".format(
            s, path, n, len(rs),
            fmt(med([r["connect_s"] for r in rs])), rng([r["connect_s"] for r in rs]),
            fmt(med([r["kib_per_conn"] for r in rs])), rng([r["kib_per_conn"] for r in rs]),
            fmt(med([r["rss_base_mib"] for r in rs]), 0), fmt(med([r["rss_conn_mib"] for r in rs]), 0),
            fmt(med([r.get("threads") for r in rs]), 0),
            fmt(med([r["cpu_pct_idle"] for r in rs]), 2), rng([r["cpu_pct_idle"] for r in rs], 2),
            fmt(med([r["cpu_pct_idle_0conn"] for r in rs]), 2),
            fmt(med([r["heartbeats"] for r in rs]), 0),
            fmt(med([r["disc_last_s"] * 1000 for r in rs if r["disc_last_s"] is not None]), 0),
            rng([float(r["load_before"].split()[0]) for r in rs], 2)))


def wrk():
    rows = load("a_wrk.jsonl")
    g = defaultdict(list)
    for r in rows:
        g[(r["server"], r["workers"], r["path"])].append(r)
    print("| server | procs | interface | view | runs | req/s (median, range) | p50 ms | p99 ms (median, range) | errors | load avg 1m (min–max) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    order = {"/json/": 0, "/db/": 1, "/ajson/": 2}
    for (s, w, path), rs in sorted(g.items(), key=lambda kv: (order[kv[0][2]], kv[0][0] == "gunicorn", kv[0][0], kv[0][1])):
        iface = "WSGI sync" if s == "gunicorn" else "ASGI"
        view = {"/json/": "DRF, small JSON", "/db/": "DRF, 1 SQLite query", "/ajson/": "async def, JsonResponse"}[path]
        print("| {} | {} | {} | {} | {} | {} ({}) | {} | {} ({}) | {} | {} |".format(
            s, w, iface, view, len(rs),
            fmt(med([r["rps"] for r in rs]), 0), rng([r["rps"] for r in rs], 0),
            fmt(med([r["p50_ms"] for r in rs]), 2),
            fmt(med([r["p99_ms"] for r in rs]), 2), rng([r["p99_ms"] for r in rs], 2),
            sum(r["non2xx"] for r in rs) or "0",
            rng([float(r["load_before"].split()[0]) for r in rs], 2)))


def fanout():
    rows = load("b_fanout.jsonl")
    g = defaultdict(list)
    for r in rows:
        g[r["mode"]].append(r)
    print("| mode | runs | delivered (min of 20 events) | last client p50 ms | last client p99 ms (median of runs, range) | first client p50 ms | publish call p50 ms | server CPU ms / event | KiB RSS / conn | threads (500 conns) | connect 500 (s) | load avg 1m (min–max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in ["b1", "b1_x500", "b2", "b2_pubsub", "b3", "b3_x500"]:
        rs = g.get(mode)
        if not rs:
            continue
        print("| {} | {} | {} | {} ({}) | {} ({}) | {} | {} | {} | {} ({}) | {} | {} | {} |".format(
            mode, len(rs), min(r["delivered_min"] for r in rs),
            fmt(med([r["last_p50_ms"] for r in rs])), rng([r["last_p50_ms"] for r in rs]),
            fmt(med([r["last_p99_ms"] for r in rs])), rng([r["last_p99_ms"] for r in rs]),
            fmt(med([r["first_p50_ms"] for r in rs])),
            fmt(med([r["publish_call_p50_ms"] for r in rs])),
            fmt(med([r["server_cpu_ms_per_event"] for r in rs])),
            fmt(med([r["kib_per_conn"] for r in rs])), rng([r["kib_per_conn"] for r in rs]),
            fmt(med([r.get("threads") for r in rs]), 0),
            fmt(med([r["connect_s"] for r in rs]), 2),
            rng([float(r["load_before"].split()[0]) for r in rs], 2)))


if __name__ == "__main__":
    print("## A. idle streams\n")
    streams()
    print("\n## A. REST throughput (wrk -t1 -c4 -d10s)\n")
    wrk()
    print("\n## B. fan-out to 500 clients (uvicorn, 1 process)\n")
    fanout()
    for name in ("redis_restart.jsonl", "gotchas.jsonl"):
        print(f"\n## {name}\n")
        for r in load(name):
            print("    " + json.dumps(r))
