"""Part A, idle SSE streams: for each server and N, RSS growth per connection, idle CPU over 60 s
with 20 s heartbeats, time to connect all N, and disconnect -> generator-cancel latency.

usage: python bench_a_streams.py [--reps 3] [--ns 1000,5000] [--servers uvicorn,daphne,granian] [--idle 60]
Appends one JSON line per run to results/a_streams.jsonl. The client runs in this process
(uvloop, raw sockets); the server is a separate process tree measured with psutil.
"""
import argparse
import asyncio
import gc
import json
import os
import time

import uvloop

import servers
from sseclient import http_get_json, open_many

HOST = "127.0.0.1"


async def run_one(server, n, port, idle, path="/sse/"):
    rec = {"server": server, "n": n, "path": path, "load_before": servers.loadavg(), "t": time.strftime("%H:%M:%S")}
    p = servers.start(server, port, 1, env={"SSE_HEARTBEAT": "20"}, tag="-a")
    try:
        # warm up: a few streams opened and closed, so imports/threads exist before the baseline
        ws, _, _ = await open_many(HOST, port, [f"{path}?u={i}" for i in range(20)])
        for s in ws:
            s.close()
        await asyncio.sleep(2)
        gc.collect()
        c0 = servers.cpu_seconds(p.pid)
        await asyncio.sleep(10)
        rec["cpu_pct_idle_0conn"] = round(100 * (servers.cpu_seconds(p.pid) - c0) / 10, 2)
        rss0 = servers.rss_kib(p.pid)
        streams, failures, dt = await open_many(HOST, port, [f"{path}?u={i}" for i in range(n)], concurrency=200)
        rec.update(connect_s=round(dt, 3), connected=len(streams), failures=len(failures),
                   failure_sample=failures[:3])
        await asyncio.sleep(3)
        rss1 = servers.rss_kib(p.pid)
        rec.update(rss_base_mib=round(rss0 / 1024, 1), rss_conn_mib=round(rss1 / 1024, 1),
                   kib_per_conn=round((rss1 - rss0) / max(1, len(streams)), 2))
        c0, hb0, t0 = servers.cpu_seconds(p.pid), sum(s.hb for s in streams), time.monotonic()
        await asyncio.sleep(idle)
        c1, hb1, t1 = servers.cpu_seconds(p.pid), sum(s.hb for s in streams), time.monotonic()
        rec["threads"] = sum(pr.num_threads() for pr in servers.tree(p.pid))
        rec.update(cpu_pct_idle=round(100 * (c1 - c0) / (t1 - t0), 2), heartbeats=hb1 - hb0,
                   rss_after_idle_mib=round(servers.rss_kib(p.pid) / 1024, 1))
        # disconnect: abort 50 sockets at once, see when the server's generators run `finally`
        st0 = await http_get_json(HOST, port, "/stats/")
        victims = streams[:50]
        tclose = time.monotonic()
        for s in victims:
            s.close()
        lat, st = None, st0
        for _ in range(100):
            await asyncio.sleep(0.1)
            st = await http_get_json(HOST, port, "/stats/")
            if st["closed"] - st0["closed"] >= len(victims):
                break
        closed = st["closed"] - st0["closed"]
        if closed:
            lat = max(st["closed_at"][-closed:]) - tclose
        rec.update(disc_closed=closed, disc_of=len(victims), disc_last_s=None if lat is None else round(lat, 3),
                   disc_cancelled=st["cancelled"] - st0["cancelled"])
        for s in streams[50:]:
            s.close()
        await asyncio.sleep(1)
    finally:
        servers.stop(p)
    return rec


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ns", default="1000,5000")
    ap.add_argument("--servers", default="uvicorn,daphne,granian")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--out", default="results/a_streams.jsonl")
    ap.add_argument("--path", default="/sse/", help="/sse/ (Django async view) or /raw-sse/ (bare ASGI)")
    a = ap.parse_args()
    servers.raise_nofile()
    os.makedirs("results", exist_ok=True)
    port = 8200 if a.path == "/sse/" else 8400
    for rep in range(a.reps):  # interleaved: rep-major
        for n in [int(x) for x in a.ns.split(",")]:
            for server in a.servers.split(","):
                port += 1
                rec = await run_one(server, n, port, a.idle, a.path)
                rec["rep"] = rep
                print(json.dumps(rec), flush=True)
                with open(a.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    uvloop.run(main())
