"""Start/stop the servers under test and measure their process tree (shared by the bench scripts)."""
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
PROJ = os.path.join(HERE, "proj")
BIN = os.path.join(HERE, ".venv", "bin")
LOGDIR = os.path.join(HERE, "logs")


def raise_nofile(n=20000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def server_cmd(name, port, workers=1):
    a = "benchproj.asgi:application"
    if name == "uvicorn":
        cmd = [f"{BIN}/uvicorn", a, "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
               "--http", "httptools", "--no-access-log", "--log-level", "warning", "--backlog", "4096"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
    elif name == "daphne":
        assert workers == 1, "daphne has no workers option"
        cmd = [f"{BIN}/daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", a]
    elif name == "granian":
        # --backpressure: default is backlog/workers = 1024 concurrent requests per worker, which
        # would cap the number of open SSE streams per worker. Raised for the stream tests.
        cmd = [f"{BIN}/granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--loop", "uvloop", "--no-ws", "--log-level", "warning",
               "--backlog", "4096", "--backpressure", "20000", a]
    elif name == "gunicorn":
        cmd = [f"{BIN}/gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
               "benchproj.wsgi:application"]
    else:
        raise ValueError(name)
    return cmd


def start(name, port, workers=1, env=None, tag=""):
    raise_nofile()
    os.makedirs(LOGDIR, exist_ok=True)
    e = dict(os.environ)
    e.update(env or {})
    log = open(os.path.join(LOGDIR, f"{name}{workers}{tag}-{port}.log"), "ab")
    p = subprocess.Popen(server_cmd(name, port, workers), cwd=PROJ, env=e, stdout=log, stderr=log,
                         start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/json/", timeout=2).read()
            break
        except Exception:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited: see {log.name}")
            time.sleep(0.2)
    else:
        stop(p)
        raise RuntimeError(f"{name} did not answer on {port}")
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def tree(pid):
    try:
        pr = psutil.Process(pid)
        return [pr] + pr.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def rss_kib(pid):
    tot = 0
    for pr in tree(pid):
        try:
            tot += pr.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return tot / 1024


def cpu_seconds(pid):
    tot = 0.0
    for pr in tree(pid):
        try:
            t = pr.cpu_times()
            tot += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return tot


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


if __name__ == "__main__":  # manual: python servers.py uvicorn 8100
    p = start(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    print("started", p.pid, flush=True)
    try:
        p.wait()
    except KeyboardInterrupt:
        stop(p)
