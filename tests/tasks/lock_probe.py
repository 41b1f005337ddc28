"""A task for tests/tasks/test_periodic_lock.py: holds the periodic lock for a while, as a long
periodic run would (workers load it with `--include tests.tasks.lock_probe`)."""

import time

from celery_app import app
from tasks.periodic import run_alone


@app.task(name="test_lock_probe")
def lock_probe(seconds: float) -> bool:
    """Sleep `seconds` holding the lock; return whether this copy held it."""
    with run_alone("test_lock_probe", seconds=60) as alone:
        if alone:
            time.sleep(seconds)
        return alone
