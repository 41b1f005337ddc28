"""Why is a trivial request ~2.5x slower under ASGI? uvicorn, 1 process, /ajson/ (async view) and /json/
(DRF sync view), wrk -t1 -c4 -d8s, with and without Django's sync request_started/finished receivers
(SSE_NO_SYNC_SIGNALS=1), 3 interleaved repeats; plus a py-spy profile of the default case.
usage: python probe_asgi_overhead.py   (appends to results/asgi_probe.jsonl, profile in results/)
"""
import json
import os
import subprocess
import time

import servers
from bench_a_wrk import wrk

os.makedirs("results", exist_ok=True)
port = 8700
for rep in range(3):
    for label, env in (("default", {}), ("no_sync_signals", {"SSE_NO_SYNC_SIGNALS": "1"})):
        port += 1
        p = servers.start("uvicorn", port, 1, env=env, tag="-probe")
        try:
            subprocess.run(["wrk", "-t1", "-c4", "-d2s", f"http://127.0.0.1:{port}/ajson/"], capture_output=True)
            for path in ("/ajson/", "/json/"):
                rec = {"variant": label, "path": path, "rep": rep, "load_before": servers.loadavg(),
                       "t": time.strftime("%H:%M:%S")}
                rec.update(wrk(f"http://127.0.0.1:{port}{path}", "8s"))
                print(json.dumps(rec), flush=True)
                with open("results/asgi_probe.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
            if rep == 0 and label == "default":
                prof = subprocess.Popen([os.path.join(servers.BIN, "py-spy"), "record", "-d", "6", "-r", "500", "-f", "raw",
                                         "-t", "-o", "results/pyspy_uvicorn_ajson.txt", "-p", str(p.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                subprocess.run(["wrk", "-t1", "-c4", "-d6s", f"http://127.0.0.1:{port}/ajson/"], capture_output=True)
                prof.wait()
        finally:
            servers.stop(p)
