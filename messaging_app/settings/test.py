"""The test suite's settings (pyproject.toml's pytest configuration names them). Never for serving.

A fixed key and a fast hasher, no TLS, one connection per test, and a broker database and queue
of the suite's own, so that a test run never takes a running system's tasks.
"""

import os

from .base import *  # noqa: F403
from .base import DATABASES, USES_SQLITE, VAR_DIR, env, live_redis_url, task_queues

DEBUG = False
SECRET_KEY = "test-only-key-written-in-the-repository-never-use-it-to-serve-anything"  # noqa: S105
# PBKDF2's million rounds cost most of a test's time; tests do not need a slow hash.
# https://docs.djangoproject.com/en/5.2/topics/testing/overview/#password-hashing
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The suite opens and drops test databases: persistent connections would hold them open.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
if USES_SQLITE:
    # A file, not :memory:, so that worker processes started by the tests can open it too
    # (tests/conftest.py creates VAR_DIR before the database is set up).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif env("TEST_DATABASE_NAME", default=""):
    # Lets two suites run side by side on one PostgreSQL server.
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}

# A Redis database of the suite's own. Only the default differs from base.py, which has already
# wired up a filesystem:// URL given in the environment.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
# Test sessions get queues of their own: suites running side by side on one Redis never take
# each other's tasks (testkit.py hands the names to the worker processes it starts).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default=f"test-{os.getpid()}")
BULK_QUEUE = env("CELERY_BULK_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-bulk")
CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = task_queues(CELERY_TASK_DEFAULT_QUEUE, BULK_QUEUE)

# Static files straight from the apps' folders (no collectstatic), looked up per request.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Pub/sub channels are not scoped by Redis database: each test session has a channel of its own
# (the processes the suite starts inherit it through the environment, testkit.worker_env).
LIVE_CHANNEL = env("LIVE_CHANNEL", default=f"live-test-{os.getpid()}")
LIVE_REDIS_URL = live_redis_url(CELERY_BROKER_URL)
