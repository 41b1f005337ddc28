"""Part A, REST throughput: sync DRF views under each ASGI server vs gunicorn sync workers (WSGI).

usage: python bench_a_wrk.py [--reps 3] [--duration 10s]
For each rep (interleaved), each config: start server, warm up 2 s, then
  wrk -t1 -c4 -d10s --latency http://127.0.0.1:PORT/json/   (DRF APIView, small JSON)
  wrk -t1 -c4 -d10s --latency http://127.0.0.1:PORT/db/     (DRF APIView, one SQLite query)
  wrk ... /ajson/  (ASGI only: async def view + JsonResponse, reference)
Appends JSON lines to results/a_wrk.jsonl.
"""
import argparse
import json
import os
import re
import subprocess
import time

import servers

CONFIGS = [("uvicorn", 1), ("uvicorn", 2), ("granian", 1), ("granian", 2), ("daphne", 1),
           ("gunicorn", 1), ("gunicorn", 2)]


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, duration):
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{duration}", "--latency", url],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    m50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": to_ms(*m50.groups()), "p99_ms": to_ms(*m.groups()),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errs.group(1) if errs else ""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--out", default="results/a_wrk.jsonl")
    a = ap.parse_args()
    os.makedirs("results", exist_ok=True)
    port = 8600
    for rep in range(a.reps):
        for name, workers in CONFIGS:
            port += 1
            p = servers.start(name, port, workers, tag="-wrk")
            try:
                base = f"http://127.0.0.1:{port}"
                subprocess.run(["wrk", "-t1", "-c4", "-d2s", f"{base}/json/"], capture_output=True)
                paths = ["/json/", "/db/"] + (["/ajson/"] if name != "gunicorn" else [])
                for path in paths:
                    rec = {"server": name, "workers": workers, "path": path, "rep": rep,
                           "load_before": servers.loadavg(), "t": time.strftime("%H:%M:%S")}
                    rec.update(wrk(base + path, a.duration))
                    print(json.dumps(rec), flush=True)
                    with open(a.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
            finally:
                servers.stop(p)


if __name__ == "__main__":
    main()
