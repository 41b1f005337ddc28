"""Robustness: what happens to already-open SSE streams when Redis restarts.

Uses a PRIVATE redis-server on port 6390 (never the shared 6379), started and stopped here.

  python bench_redis_restart.py raw [--down 1]      redis-py asyncio PubSub alone: listen() loop and
                                                    get_message() loop; is the subscription back?
  python bench_redis_restart.py e2e --mode b1 [--down 3]
        uvicorn + the mode's server side (see bench_b_fanout.py), 3 open streams; publish e1;
        restart Redis (down N s); then publish one event per second for 20 s; report which
        events the already-open streams got and whether a NEW stream gets events.
Appends JSON lines to results/redis_restart.jsonl.
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import uvloop

PORT = 6390
URL = f"redis://127.0.0.1:{PORT}/9"
HERE = os.path.dirname(os.path.abspath(__file__))


class PrivateRedis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ssebench-redis-")
        self.p = None

    def start(self):
        self.p = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(PORT), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.kill()  # crash-like: connections are reset, nothing saved
            self.p.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


async def raw(down):
    import redis
    import redis.asyncio as aioredis

    rs = PrivateRedis()
    rs.start()
    out = {"test": "raw", "down_s": down, "redis_py": redis.__version__}
    try:
        # "listen": Redis.from_url(...) client (its pool's connections get Retry(NoBackoff(), 0));
        # "listen_kwargs": Redis(host=..., port=...) as django-eventstream builds it (default
        # Retry: 10 retries, jittered exponential backoff 10 ms .. 1 s).
        got = {"listen": [], "listen_kwargs": [], "get_message": []}
        errs = {"listen": [], "listen_kwargs": [], "get_message": []}

        async def via_listen(key, client):
            ps = client.pubsub()
            await ps.subscribe("ssebench:raw")
            try:
                async for m in ps.listen():  # the pattern django-eventstream's RedisListener uses
                    if m["type"] == "message":
                        got[key].append(m["data"].decode())
            except Exception as e:  # noqa: BLE001
                errs[key].append(f"{time.monotonic() - t_kill:.2f}s after kill: {type(e).__name__}: {e}"[:200])

        async def via_get_message():
            ps = aioredis.Redis.from_url(URL).pubsub()
            await ps.subscribe("ssebench:raw")
            while True:
                try:
                    m = await ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if m:
                        got["get_message"].append(m["data"].decode())
                except Exception as e:  # noqa: BLE001
                    errs["get_message"].append(f"{time.monotonic() - t_kill:.2f}s after kill: {type(e).__name__}: {e}"[:200])
                    if len(errs["get_message"]) > 50:
                        return
                    await asyncio.sleep(0.5)

        t_kill = time.monotonic()
        tasks = [asyncio.ensure_future(via_listen("listen", aioredis.Redis.from_url(URL))),
                 asyncio.ensure_future(via_listen("listen_kwargs", aioredis.Redis(host="127.0.0.1", port=PORT, db=9))),
                 asyncio.ensure_future(via_get_message())]
        await asyncio.sleep(0.5)
        pub = aioredis.Redis.from_url(URL)
        await pub.publish("ssebench:raw", "before")
        await asyncio.sleep(0.5)
        t_kill = time.monotonic()
        rs.stop()
        await asyncio.sleep(down)
        rs.start()
        for i in range(20):
            try:
                await pub.publish("ssebench:raw", f"after{i}")
            except Exception:  # noqa: BLE001
                pass
            await asyncio.sleep(1)
        out.update(received=got, errors={k: v[:3] for k, v in errs.items()}, n_errors={k: len(v) for k, v in errs.items()},
                   listen_task_done=tasks[0].done(), listen_kwargs_task_done=tasks[1].done())
        for t in tasks:
            t.cancel()
    finally:
        rs.cleanup()
    return out


async def e2e(mode, down):
    os.environ["SSE_REDIS_URL"] = URL
    os.environ["SSE_REDIS_PORT"] = str(PORT)
    import bench_b_fanout as bb
    import servers
    from sseclient import open_stream

    bb.REDIS_URL = URL
    rs = PrivateRedis()
    rs.start()
    env = dict(bb.SERVER_ENV[mode], SSE_REDIS_URL=URL, SSE_REDIS_PORT=str(PORT))
    port = 8950
    p = servers.start("uvicorn", port, 1, env=env, tag="-restart-" + mode)
    marker = bb.MARKER.get(mode, b": connected")
    out = {"test": "e2e", "mode": mode, "down_s": down}
    try:
        recv = {}

        def on_frame(stream, frame, now):
            m = bb.SEQ_RE.search(frame)
            if m:
                recv.setdefault(int(m.group(1)), set()).add(id(stream))

        async def connect(uids):
            ss = []
            for u in uids:
                s = await open_stream("127.0.0.1", port, bb.PATHS[mode].format(u), ready_marker=marker)
                s.on_frame = on_frame
                s.task = asyncio.ensure_future(s.pump())
                ss.append(s)
            return ss

        old = await connect([1, 2, 3])
        publish = await bb.make_publisher(mode, [1, 2, 3, 4])
        await asyncio.sleep(0.5)
        await publish(1)
        await asyncio.sleep(1)
        out["before_restart_delivered"] = len(recv.get(1, ()))
        rs.stop()
        await asyncio.sleep(down)
        rs.start()
        new, pub_err, first_ok = [], 0, None
        t_up = time.monotonic()
        for seq in range(2, 22):
            try:
                await publish(seq)
            except Exception:  # noqa: BLE001
                pub_err += 1
            if seq in (5, 12) and not new:  # a stream opened after the restart (~3 s, again ~10 s)
                try:
                    new = await connect([4])
                    out["new_stream_opened_at_event"] = seq
                except Exception as e:  # noqa: BLE001
                    out[f"new_stream_error_at_event_{seq}"] = repr(e)[:160]
            await asyncio.sleep(1)
            old_ids = {id(s) for s in old}
            if first_ok is None and old_ids & recv.get(seq, set()):
                first_ok = round(time.monotonic() - t_up, 1)
        await asyncio.sleep(1)
        old_ids = {id(s) for s in old}
        new_ids = {id(s) for s in new}
        after = range(2, 22)
        out.update(
            publish_errors=pub_err,
            old_streams_events_after_restart=sum(1 for s in after if old_ids & recv.get(s, set())),
            old_streams_first_delivery_s_after_up=first_ok,
            new_stream_events=sum(1 for s in after if new_ids & recv.get(s, set())),
            old_streams_still_open=sum(1 for s in old if not s.task.done()),
            of_events=len(after),
        )
        for s in old + new:
            s.close()
    finally:
        servers.stop(p)
        rs.cleanup()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["raw", "e2e"])
    ap.add_argument("--mode", default="b1")
    ap.add_argument("--down", type=float, default=3)
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    res = uvloop.run(raw(a.down) if a.what == "raw" else e2e(a.mode, a.down))
    print(json.dumps(res), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "redis_restart.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
