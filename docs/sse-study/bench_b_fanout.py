"""Part B, fan-out: one published event delivered to 500 SSE clients held by ONE server process
(uvicorn + uvloop + httptools). Latency = publish timestamp (in the payload, taken just before the
publish call) -> the moment the LAST of the 500 clients has read it; 20 events per run.

modes:
  b1        Django async view + redis.asyncio: one subscription per process, event names its 500
            user ids, in-memory dispatch to per-connection asyncio.Queue          (1 PUBLISH)
  b1_x500   same server, but 500 publishes (one per recipient, pipelined)         (500 PUBLISH)
  b2        Channels 4 AsyncHttpConsumer + channels_redis core RedisChannelLayer,
            all 500 consumers in one group, channel_layer.group_send              (1 group_send)
  b2_pubsub same with channels_redis RedisPubSubChannelLayer
  b3        django-eventstream 5.3 (DjangoModelStorage + EVENTSTREAM_REDIS listener),
            every stream on channels user-<id> + fanout; send_event("fanout")     (1 send_event)
  b3_x500   same, send_event("user-<id>") for each of the 500 users               (500 send_event)

usage: python bench_b_fanout.py [--reps 3] [--modes b1,b1_x500,b2,b2_pubsub,b3,b3_x500] [--clients 500] [--events 20]
Appends JSON lines to results/b_fanout.jsonl.
"""
import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import sys
import time

import uvloop

import servers
from sseclient import open_many

HOST = "127.0.0.1"
REDIS_URL = os.environ.get("SSE_REDIS_URL", "redis://127.0.0.1:6379/9")
HERE = os.path.dirname(os.path.abspath(__file__))

SERVER_ENV = {
    "b1": {"SSE_MODE": "plain", "SSE_PUBSUB": "1"},
    "b1_x500": {"SSE_MODE": "plain", "SSE_PUBSUB": "1"},
    "b2": {"SSE_MODE": "channels"},
    "b2_pubsub": {"SSE_MODE": "channels_pubsub"},
    "b3": {"SSE_MODE": "eventstream"},
    "b3_x500": {"SSE_MODE": "eventstream"},
}
PATHS = {"b1": "/sse/?u={}", "b1_x500": "/sse/?u={}", "b2": "/sse/ch/{}/", "b2_pubsub": "/sse/ch/{}/",
         "b3": "/sse/es/{}/", "b3_x500": "/sse/es/{}/"}
MARKER = {"b3": b"stream-open", "b3_x500": b"stream-open"}
SEQ_RE = re.compile(rb'"seq": ?(\d+)')


def pct(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def make_publisher(mode, users):
    """Returns an async publish(seq) that stamps ts and publishes one event for all users."""
    if mode.startswith("b1"):
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(REDIS_URL)

        async def publish(seq):
            ts = time.time()
            if mode == "b1":
                await r.publish("ssebench:events", json.dumps({"seq": seq, "ts": ts, "users": users}))
            else:
                async with r.pipeline(transaction=False) as pipe:
                    for u in users:
                        pipe.publish("ssebench:events", json.dumps({"seq": seq, "ts": ts, "users": [u]}))
                    await pipe.execute()
        return publish
    if mode.startswith("b2"):
        if mode == "b2":
            from channels_redis.core import RedisChannelLayer as Layer
        else:
            from channels_redis.pubsub import RedisPubSubChannelLayer as Layer
        layer = Layer(hosts=[REDIS_URL], prefix="ssebench:asgi")

        async def publish(seq):
            ts = time.time()
            body = json.dumps({"seq": seq, "ts": ts})
            await layer.group_send("fanout", {"type": "sse.event", "frame": f"id: {seq}\ndata: {body}\n\n"})
        return publish
    if mode.startswith("b3"):
        os.environ["SSE_MODE"] = "eventstream"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
        sys.path.insert(0, os.path.join(HERE, "proj"))
        import django

        django.setup()
        from django_eventstream import send_event

        def pub_sync(seq):
            ts = time.time()
            if mode == "b3":
                send_event("fanout", "message", {"seq": seq, "ts": ts})
            else:
                for u in users:
                    send_event(f"user-{u}", "message", {"seq": seq, "ts": ts})

        async def publish(seq):  # sync ORM + redis: in a thread so this loop keeps reading
            await asyncio.get_running_loop().run_in_executor(None, pub_sync, seq)
        return publish
    raise ValueError(mode)


def flush_ssebench_keys():
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter("ssebench:*", count=1000))
    if keys:
        r.delete(*keys)


async def run_one(mode, port, nclients, nevents):
    rec = {"mode": mode, "clients": nclients, "load_before": servers.loadavg(), "t": time.strftime("%H:%M:%S")}
    flush_ssebench_keys()
    p = servers.start("uvicorn", port, 1, env=SERVER_ENV[mode], tag="-" + mode)
    marker = MARKER.get(mode, b": connected")
    users = list(range(1, nclients + 1))
    try:
        # warm-up + baseline RSS
        from sseclient import open_stream

        warm = [await open_stream(HOST, port, PATHS[mode].format(100000 + i), ready_marker=marker) for i in range(5)]
        for s in warm:
            s.close()
        await asyncio.sleep(2)
        rss0 = servers.rss_kib(p.pid)
        paths = [PATHS[mode].format(u) for u in users]
        sem = asyncio.Semaphore(100)
        streams = []
        t0 = time.monotonic()

        async def one(pth):
            async with sem:
                streams.append(await open_stream(HOST, port, pth, ready_marker=marker))

        await asyncio.gather(*(one(x) for x in paths))
        rec["connect_s"] = round(time.monotonic() - t0, 3)
        recv = {}  # seq -> list of receive times

        def on_frame(stream, frame, now):
            m = SEQ_RE.search(frame)
            if m:
                recv.setdefault(int(m.group(1)), []).append(now)

        for s in streams:
            s.on_frame = on_frame
            s.task = asyncio.ensure_future(s.pump())
        await asyncio.sleep(2)
        gc.collect()
        rss1 = servers.rss_kib(p.pid)
        rec.update(rss_base_mib=round(rss0 / 1024, 1), kib_per_conn=round((rss1 - rss0) / nclients, 2),
                   threads=sum(pr.num_threads() for pr in servers.tree(p.pid)))
        publish = await make_publisher(mode, users)
        await publish(0)  # warm the publisher path (connections, imports); not counted
        await asyncio.sleep(1)
        lat_last, lat_first, delivered, pub_s = [], [], [], []
        cpu0 = servers.cpu_seconds(p.pid)
        for seq in range(1, nevents + 1):
            ts = time.time()
            await publish(seq)
            pub_s.append(time.time() - ts)
            deadline = time.monotonic() + 15
            while len(recv.get(seq, ())) < nclients and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            got = recv.get(seq, [])
            delivered.append(len(got))
            if got:
                lat_last.append((max(got) - ts) * 1000)
                lat_first.append((min(got) - ts) * 1000)
            await asyncio.sleep(0.2)
        cpu1 = servers.cpu_seconds(p.pid)
        rec.update(
            delivered_min=min(delivered), events=nevents,
            last_p50_ms=round(statistics.median(lat_last), 2), last_p99_ms=round(pct(lat_last, 0.99), 2),
            first_p50_ms=round(statistics.median(lat_first), 2),
            publish_call_p50_ms=round(statistics.median(pub_s) * 1000, 2),
            server_cpu_ms_per_event=round((cpu1 - cpu0) * 1000 / nevents, 1),
        )
        for s in streams:
            s.close()
        await asyncio.sleep(1)
    finally:
        servers.stop(p)
    return rec


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--modes", default="b1,b1_x500,b2,b2_pubsub,b3,b3_x500")
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--out", default="results/b_fanout.jsonl")
    a = ap.parse_args()
    servers.raise_nofile()
    os.makedirs("results", exist_ok=True)
    port = 8800
    for rep in range(a.reps):
        for mode in a.modes.split(","):
            port += 1
            rec = await run_one(mode, port, a.clients, a.events)
            rec["rep"] = rep
            print(json.dumps(rec), flush=True)
            with open(a.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
    flush_ssebench_keys()


if __name__ == "__main__":
    uvloop.run(main())
