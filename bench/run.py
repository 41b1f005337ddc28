"""Run the benchmark sections in order and print every figure, then a table of the targets.

Usage: python -m bench [--smoke] [--only 1,2,...] [--plot PATH]

The run makes its own database (a fresh SQLite file by default, a fresh `bench_*` PostgreSQL
database when DATABASE_URL names a PostgreSQL server), its own Redis queue (CELERY_BROKER_URL,
default redis://127.0.0.1:6379/13) and its own Redis cache for the multi-process sections
(BENCH_CACHE_URL, default redis://127.0.0.1:6379/12, flushed), and removes all of it at the end.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.harness import (
    DEFAULT_BROKER_URL,
    DEFAULT_REDIS_CACHE_URL,
    FULL,
    OUT_DIR,
    ROOT,
    SMOKE,
    BenchDatabase,
    BenchTimeout,
    Results,
    arm_time_limit,
    flush_redis,
    install_sigterm_handler,
    purge_queue,
    redacted,
    stop_worker,
)

SECTIONS = {
    1: ("queries", "bench.queries"),
    2: ("cache", "bench.list_cache"),
    3: ("write path", "bench.write_path"),
    4: ("pipeline", "bench.pipeline"),
    5: ("purge", "bench.purge"),
    6: ("http", "bench.http"),
    7: ("live", "bench.live"),
    8: ("isolation", "bench.isolation"),
    9: ("capacity", "bench.capacity"),
    10: ("baselines", "bench.baselines"),
}


def _machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


def _load() -> str:
    """The 1, 5 and 15 minute load averages: how busy the (shared) machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _prepare_environment(broker_url: str) -> None:
    """Settings the in-process Django and every process the bench starts share."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # production's, on plain HTTP
    # What production settings require: a key of the run's own and the loopback host names
    # (testserver: the sections that call the API in process).
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + os.urandom(24).hex())
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_BROKER_URL"] = broker_url
    # Production needs a cache every process shares (messaging/checks.py): the bench's Redis.
    os.environ["CACHE_URL"] = os.environ["BENCH_CACHE_URL"]
    # Pub/sub channels ignore Redis database numbers: the run's own channel.
    os.environ.setdefault("LIVE_CHANNEL", f"live-bench-{os.getpid()}")


def _versions(db: BenchDatabase, broker_url: str) -> dict[str, str]:
    import celery
    import django
    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if db.is_postgres else "SELECT sqlite_version()")
        db_version = cursor.fetchone()[0].split(" ")[0]
    try:
        client = redis.Redis.from_url(broker_url, socket_connect_timeout=2)
        redis_version = client.info("server")["redis_version"]
        client.close()
    except Exception as exc:
        redis_version = f"unreachable ({exc})"
    return {
        "database": f"{db.label} {db_version}",
        "redis": redis_version,
        "django": django.get_version(),
        "celery": celery.__version__,
        "db_conn_max_age": str(connection.settings_dict.get("CONN_MAX_AGE")),
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every section, ~1 min")
    parser.add_argument("--only", default="", help="comma-separated section numbers, e.g. 1,2")
    parser.add_argument(
        "--plot",
        default=str(OUT_DIR / "latency.png"),
        help="where to write the latency plot (BENCHMARKS.md links docs/bench/latency.png)",
    )
    return parser.parse_args(argv)


def _set_up(db: BenchDatabase, broker_url: str, cache_url: str, args, sizes) -> dict:
    """Create and migrate the run's database, set up Django, and describe the run."""
    os.environ["DATABASE_URL"] = db.create()
    os.environ["BENCH_CACHE_URL"] = cache_url
    _prepare_environment(broker_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    # Production serves the admin's and the API browser's files through WhiteNoise from
    # STATIC_ROOT, as a deployment's collectstatic leaves it.
    call_command("collectstatic", interactive=False, verbosity=0)
    return {
        "mode": sizes.name,
        "command": "python -m bench" + (" --smoke" if args.smoke else ""),
        **_machine(),
        **_versions(db, broker_url),
        "broker": redacted(broker_url),
        "shared_cache": redacted(cache_url),
        "load_at_start": _load(),
    }


def _print_header(meta: dict, time_limit: int) -> None:
    print(f"bench ({meta['mode']}) on {meta['database']}; time limit {time_limit}s")
    for key in ("nproc", "cpu", "memory", "python", "django", "celery", "redis", "commit"):
        print(f"  {key}: {meta[key]}")
    print(f"  broker: {meta['broker']}; shared cache: {meta['shared_cache']}")
    print(f"  DB_CONN_MAX_AGE={meta['db_conn_max_age']} (the project default is 60)")
    print(f"  load average at start: {meta['load_at_start']}")


def _run_sections(wanted: list[int], results: Results, sizes) -> None:
    """Run each section; a failure is recorded and the next section runs."""
    for number in wanted:
        title, module_name = SECTIONS[number]
        section_started = time.monotonic()
        try:
            importlib.import_module(module_name).run(results, sizes)
        except BenchTimeout:
            results.errors.append(f"section {number} ({title}): time limit reached")
            print(f"!! section {number} ({title}) stopped: time limit reached", flush=True)
            break
        except Exception as exc:
            results.errors.append(f"section {number} ({title}): {type(exc).__name__}: {exc}")
            print(f"!! section {number} ({title}) failed:", flush=True)
            traceback.print_exc()
        finally:
            print(f"  [section {number} took {time.monotonic() - section_started:.1f}s]")


def _report(results: Results, sizes, plot_path: Path, elapsed: float) -> None:
    """The plot, the raw results, the table of targets and a one-line summary."""
    results.meta["elapsed_seconds"] = round(elapsed, 1)
    results.meta["load_at_end"] = _load()
    if results.series:
        try:
            from bench.plot import plot

            plot(results, plot_path)
            print(f"\nplot: {plot_path}")
        except Exception as exc:
            results.errors.append(f"plot: {type(exc).__name__}: {exc}")
            traceback.print_exc()
    results.dump(OUT_DIR / f"results-{sizes.name}.json")
    print("\n== Targets ==")
    print(results.table())
    missed = [f for f in results.figures if f.target and f.verdict != "PASS"]
    print(
        f"\n{sum(1 for f in results.figures if f.verdict == 'PASS')} passed, "
        f"{len(missed)} missed of {sum(1 for f in results.figures if f.target)} targets; "
        f"{len(results.errors)} errors; {elapsed:.0f}s in all; "
        f"load average {results.meta.get('load_at_start', '?')} at start, "
        f"{results.meta['load_at_end']} at the end"
    )
    for error in results.errors:
        print(f"ERROR {error}")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sizes = SMOKE if args.smoke else FULL
    wanted = [int(s) for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    broker_url = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    cache_url = os.environ.get("BENCH_CACHE_URL") or DEFAULT_REDIS_CACHE_URL
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    install_sigterm_handler()
    arm_time_limit(sizes.time_limit)
    started = time.monotonic()
    results = Results()
    db = BenchDatabase(
        os.environ.get("DATABASE_URL"), Path(os.environ.get("VAR_DIR", ROOT / "var"))
    )
    try:
        results.meta = _set_up(db, broker_url, cache_url, args, sizes)
        _print_header(results.meta, sizes.time_limit)
        purge_queue()
        flush_redis(cache_url)
        _run_sections(wanted, results, sizes)
    except BenchTimeout:
        results.errors.append("time limit reached before the sections ran")
    finally:
        signal_off()
        _cleanup(db, cache_url)
    _report(results, sizes, Path(args.plot), time.monotonic() - started)
    return 1 if results.errors else 0


def signal_off() -> None:
    import signal

    signal.alarm(0)


def _cleanup(db: BenchDatabase, cache_url: str) -> None:
    """Leave nothing behind: queued tasks, cached entries, connections, the database."""
    for step in (stop_worker, purge_queue, lambda: flush_redis(cache_url)):
        try:
            step()
        except Exception as exc:
            print(f"cleanup: {exc}", file=sys.stderr)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:
        pass
    try:
        db.drop()
    except Exception as exc:
        print(f"cleanup: could not drop {db.name}: {exc}", file=sys.stderr)
