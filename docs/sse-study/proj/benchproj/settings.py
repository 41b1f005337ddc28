"""Minimal settings for the SSE measurements. DEBUG off, SQLite, one async SSE view.

SSE_MODE selects what is wired in (env var, read at import):
  plain        - idle SSE view + sync DRF views (part A); also the pub/sub fan-out view (B1)
  channels     - adds Channels 4 + channels_redis core layer (B2)
  channels_pubsub - Channels 4 + channels_redis RedisPubSubChannelLayer (B2b)
  eventstream  - adds django-eventstream 5 with its Redis listener, DB storage (B3)
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "sse-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
SSE_MODE = os.environ.get("SSE_MODE", "plain")
REDIS_URL = os.environ.get("SSE_REDIS_URL", "redis://127.0.0.1:6379/9")
SSE_PUBSUB_CHANNEL = "ssebench:events"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "benchproj",
]
if SSE_MODE.startswith("channels"):
    INSTALLED_APPS.append("channels")
if SSE_MODE == "eventstream":
    INSTALLED_APPS.append("django_eventstream")

# The stock startproject stack (minus messages): every one is sync+async capable in Django 5.2.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
if SSE_MODE == "eventstream":
    MIDDLEWARE.insert(0, "django_grip.GripMiddleware")

ROOT_URLCONF = "benchproj.urls"
WSGI_APPLICATION = "benchproj.wsgi.application"
ASGI_APPLICATION = "benchproj.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "CONN_MAX_AGE": 60,
        # WAL + synchronous=NORMAL: the usual setting for SQLite with concurrent readers/writers;
        # with the default rollback journal one django-eventstream send_event took ~23 ms here.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
TEMPLATES = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

# redis-py 8's asyncio ConnectionPool defaults to max_connections=100 and raises
# MaxConnectionsError (no waiting): with the core layer, 100+ streams connecting at once
# (group_add each) failed with HTTP 500. Raised here.
CHANNELS_REDIS_HOST = {"address": REDIS_URL, "max_connections": 1000}
if SSE_MODE == "channels":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CHANNELS_REDIS_HOST], "prefix": "ssebench:asgi", "capacity": 1000},
        }
    }
elif SSE_MODE == "channels_pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [CHANNELS_REDIS_HOST], "prefix": "ssebench:asgi"},
        }
    }

if SSE_MODE == "eventstream":
    # django-eventstream: DB storage (Event/EventCounter tables) + one Redis pub/sub
    # listener per process (EVENTSTREAM_REDIS). Its pub/sub channel name "events_channel"
    # is hard-coded; benchproj.apps renames it to "ssebench:events_channel" (shared Redis).
    EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
    EVENTSTREAM_REDIS = {"host": "127.0.0.1", "port": int(os.environ.get("SSE_REDIS_PORT", "6379")), "db": 9}
    GRIP_URL = None
