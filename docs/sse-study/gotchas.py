"""Small checks behind the "gotchas" section of RESULTS.md.

  1. peer IP: REMOTE_ADDR seen by Django when the client (127.0.0.1) sends X-Forwarded-For: 203.0.113.9,
     per server, default flags and with the proxy-header option.
  2. Django async StreamingHttpResponse (the SSE view) under WSGI/gunicorn: bytes received in 3 s.
  3. OS threads in the server process per open Django SSE stream vs a bare-ASGI stream (uvicorn, 200 each).
  4. granian with default flags: how many SSE streams one worker accepts (backpressure = backlog/workers).
usage: python gotchas.py   (prints JSON lines, appends to results/gotchas.jsonl)
"""
import asyncio
import json
import os
import subprocess
import time

import servers
from sseclient import open_many

BIN = servers.BIN


def curl(args):
    return subprocess.run(["curl", "-s"] + args, capture_output=True, text=True).stdout


def start_custom(cmd, port, env=None):
    e = dict(os.environ, **(env or {}))
    p = subprocess.Popen(cmd, cwd=servers.PROJ, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    for _ in range(150):
        if curl(["-m", "1", f"http://127.0.0.1:{port}/json/"]):
            return p
        time.sleep(0.2)
    servers.stop(p)
    raise RuntimeError(cmd)


def main():
    out = []
    a = "benchproj.asgi:application"
    port = 8500
    cases = [
        ("uvicorn default", [f"{BIN}/uvicorn", a, "--port", "{p}"], None),
        ("uvicorn --no-proxy-headers", [f"{BIN}/uvicorn", a, "--port", "{p}", "--no-proxy-headers"], None),
        ("daphne default", [f"{BIN}/daphne", "-p", "{p}", a], None),
        ("daphne --proxy-headers", [f"{BIN}/daphne", "-p", "{p}", "--proxy-headers", a], None),
        ("granian default", [f"{BIN}/granian", "--interface", "asgi", "--port", "{p}", a], None),
        ("granian + wrap_asgi_with_proxy_headers", [f"{BIN}/granian", "--interface", "asgi", "--port", "{p}", a],
         {"SSE_GRANIAN_PROXY_HEADERS": "1"}),
        ("gunicorn default (WSGI)", [f"{BIN}/gunicorn", "-b", "127.0.0.1:{p}", "benchproj.wsgi:application"], None),
    ]
    for name, cmd, env in cases:
        port += 1
        p = start_custom([c.replace("{p}", str(port)) for c in cmd], port, env)
        try:
            r = json.loads(curl(["-H", "X-Forwarded-For: 203.0.113.9", "-H", "X-Forwarded-Proto: https",
                                 f"http://127.0.0.1:{port}/peer/"]))
            rec = {"check": "peer_ip", "server": name, "REMOTE_ADDR": r["REMOTE_ADDR"], "scheme": r["scheme"]}
            if name.startswith("gunicorn"):
                t0 = time.time()
                body = subprocess.run(["curl", "-s", "-N", "-m", "3", f"http://127.0.0.1:{port}/sse/?u=1"],
                                      capture_output=True).stdout
                rec["wsgi_async_sse_bytes_in_3s"] = len(body)
                rec["wsgi_async_sse_wait_s"] = round(time.time() - t0, 1)
            print(json.dumps(rec), flush=True)
            out.append(rec)
        finally:
            servers.stop(p)

    async def threads_per_stream():
        res = []
        for path in ("/sse/", "/raw-sse/"):
            p = servers.start("uvicorn", 8590 if path == "/sse/" else 8591, tag="-threads")
            try:
                t0 = sum(x.num_threads() for x in servers.tree(p.pid))
                ss, fails, _ = await open_many("127.0.0.1", 8590 if path == "/sse/" else 8591,
                                               [f"{path}?u={i}" for i in range(200)])
                await asyncio.sleep(1)
                t1 = sum(x.num_threads() for x in servers.tree(p.pid))
                res.append({"check": "threads_per_stream", "path": path, "streams": len(ss),
                            "threads_before": t0, "threads_with_streams": t1})
                for s in ss:
                    s.close()
                await asyncio.sleep(1)
                res[-1]["threads_after_close"] = sum(x.num_threads() for x in servers.tree(p.pid))
            finally:
                servers.stop(p)
        return res

    async def granian_default_backpressure():
        """granian with its default flags (backlog 1024 -> backpressure 1024 per worker): 1100 streams."""
        port = 8592
        p = start_custom([f"{BIN}/granian", "--interface", "asgi", "--port", str(port), "--loop", "uvloop",
                          "--log-level", "warning", a], port)
        try:
            from sseclient import open_stream

            async def one(i):
                return await open_stream("127.0.0.1", port, f"/sse/?u={i}", timeout=8)

            res = await asyncio.gather(*(one(i) for i in range(1100)), return_exceptions=True)
            ok = [r for r in res if not isinstance(r, BaseException)]
            # does a plain REST request still get through?
            t0 = time.time()
            rest = curl(["-m", "5", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/json/"])
            rec = {"check": "granian_default_backpressure", "streams_requested": 1100, "streams_open": len(ok),
                   "rest_status_with_streams_open": rest, "rest_wait_s": round(time.time() - t0, 2)}
            for s in ok:
                s.close()
            return [rec]
        finally:
            servers.stop(p)

    servers.raise_nofile()
    for rec in asyncio.run(granian_default_backpressure()):
        print(json.dumps(rec), flush=True)
        out.append(rec)
    for rec in asyncio.run(threads_per_stream()):
        print(json.dumps(rec), flush=True)
        out.append(rec)
    os.makedirs("results", exist_ok=True)
    with open("results/gotchas.jsonl", "a") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
