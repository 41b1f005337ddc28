"""Django settings for the messaging service, read from the environment with safe local defaults.

Every value a deployment changes comes from an environment variable; see README.md for the list.
https://docs.djangoproject.com/en/5.2/ref/settings/
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


# --- Core -----------------------------------------------------------------------------------
# Debug is off unless asked for: `make run` sets DJANGO_DEBUG=1, production never does.
DEBUG = env_bool("DJANGO_DEBUG", False)
TESTING = "pytest" in sys.modules or env_bool("DJANGO_TESTING", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-local-development-key-never-use-in-production-0123456789"  # noqa: S105
    else:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off. "
            "Set DJANGO_DEBUG=1 for local development, or export a long random DJANGO_SECRET_KEY."
        )

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(
        ","
    )
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "accounts",
    "chats",
    "messaging",
    "outbox",
    "tasks",
    "monitoring",
]

MIDDLEWARE = [
    "messaging_app.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "messaging_app.urls"
WSGI_APPLICATION = "messaging_app.wsgi.application"
ASGI_APPLICATION = "messaging_app.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL selects the database (postgres://user@host:5432/name); SQLite under var/ otherwise.
# Persistent connections (seconds; 0 = one per request): opening a PostgreSQL connection costs
# more than most of our queries. Health checks drop a connection that died meanwhile.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        # The suite opens and drops test databases: persistent connections would hold them open.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if TESTING else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write the same file: WAL lets readers run beside a writer,
    # IMMEDIATE takes the write lock up front so concurrent writers wait instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if TESTING and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that worker processes started by the tests can open it too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif TESTING and os.environ.get("TEST_DATABASE_NAME"):
    # Lets two suites run side by side on one PostgreSQL server.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # PBKDF2's million rounds cost most of a test's time; tests do not need a slow hash.
    # https://docs.djangoproject.com/en/5.2/topics/testing/overview/#password-hashing
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Cache ----------------------------------------------------------------------------------
# LocMemCache is per process; CACHE_URL=redis://host:6379/1 shares the cache between web
# processes and the worker (https://docs.djangoproject.com/en/5.2/topics/cache/#redis).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif CACHE_URL in ("", "locmem://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "messaging",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
else:
    raise ImproperlyConfigured(f"Unsupported CACHE_URL {CACHE_URL!r}: use redis://... or locmem://")

# Seconds a cached message list lives (the per-user versioned keys make it read-your-writes).
MESSAGE_LIST_CACHE_TIMEOUT = env_int("MESSAGE_LIST_CACHE_TIMEOUT", 60)

# --- Internationalization and static files --------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Request limits -------------------------------------------------------------------------
# Bodies above this are refused with 413 before any parsing (a message is at most 10,000 chars).
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
MESSAGE_MAX_LENGTH = 10_000
CONVERSATION_MAX_PARTICIPANTS = env_int("CONVERSATION_MAX_PARTICIPANTS", 500)
# The thread endpoint returns at most this many messages (oldest first) and says when it cut.
THREAD_MAX_MESSAGES = env_int("THREAD_MAX_MESSAGES", 1_000)
# ... and at most this many levels below the message asked for (deeper replies are cut too).
THREAD_MAX_DEPTH = env_int("THREAD_MAX_DEPTH", 100)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "messaging_app.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "register": os.environ.get("THROTTLE_REGISTER", "20/hour"),
        "token": os.environ.get("THROTTLE_TOKEN", "60/minute"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Messaging API",
    "DESCRIPTION": "Direct and group messages, threads, edits, unread state and notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messaging_app.errors.document_error_responses",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html (read with the CELERY_ prefix)
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL",
    # The suite uses its own Redis database so that it never eats a running system's tasks.
    "redis://127.0.0.1:6379/14" if TESTING else "redis://127.0.0.1:6379/0",
)
# Test sessions get a queue of their own: suites running side by side on one Redis never take
# each other's tasks (tests/support.py hands the name to the worker processes it starts).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE") or (
    f"test-{os.getpid()}" if TESTING else "celery"
)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=env_int("CELERY_RESULT_EXPIRES_DAYS", 7))
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The producer (the web request) must never hang on a dead broker: short socket timeouts and
# no publish retries; an event that cannot be sent stays in the outbox for the relay.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    # Kombu retries a failed connect after interval_start seconds (default 2): retry once, now.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY = False


def filesystem_broker_options(folder: Path) -> dict:
    """Transport options of Kombu's filesystem broker, the fallback when no Redis runs.

    One machine only; the web process and the worker must share `folder`.
    """
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # Look at the folders every 0.1 s (default 1 s), so a worker answers the health
        # check's ping well within its one-second budget.
        "polling_interval": 0.1,
    }


# Kombu's filesystem transport with atomic message files (tasks/filesystem_transport.py).
FILESYSTEM_BROKER_TRANSPORT = "tasks.filesystem_transport:Transport"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = FILESYSTEM_BROKER_TRANSPORT
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "broker")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {"task": "outbox_relay", "schedule": 30.0},
    "outbox-prune": {"task": "outbox_prune", "schedule": 3600.0},
    # Deletes results older than CELERY_RESULT_EXPIRES (the django-db backend does not expire
    # them by itself). Same name and time as the entry beat would add, so there is one row.
    "celery.backend_cleanup": {
        "task": "celery.backend_cleanup",
        "schedule": crontab(minute=0, hour=4),
        "options": {"expire_seconds": 12 * 3600},
    },
}

# Transactional outbox: events not done after this many seconds are sent again by the relay;
# done events are pruned after OUTBOX_RETENTION_HOURS.
# On the filesystem broker sooner: Kombu writes a message file in place, and a worker that reads
# it mid-write loses it; the relay is what resends it.
OUTBOX_RELAY_GRACE_SECONDS = env_int(
    "OUTBOX_RELAY_GRACE_SECONDS", 15 if CELERY_BROKER_URL.startswith("filesystem://") else 60
)
OUTBOX_RETENTION_HOURS = env_int("OUTBOX_RETENTION_HOURS", 24)
# How many events one worker task drains at once (batched inserts; see tasks/notifications.py).
OUTBOX_BATCH_SIZE = env_int("OUTBOX_BATCH_SIZE", 500)
# Publish after commit from a background thread, so that no request waits for the broker.
OUTBOX_PUBLISH_IN_BACKGROUND = env_bool("OUTBOX_PUBLISH_IN_BACKGROUND", True)
# Rows deleted per transaction by the account purge.
PURGE_BATCH_SIZE = env_int("PURGE_BATCH_SIZE", 1_000)
# Pause between purge batches. SQLite has one write lock, and a writer waiting for it backs
# off up to 100 ms: without a pause a long purge starves everybody else's writes.
PURGE_BATCH_PAUSE_SECONDS = float(
    os.environ.get(
        "PURGE_BATCH_PAUSE_SECONDS",
        "0.15" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "0",
    )
)

# --- Security (production) ------------------------------------------------------------------
# Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=1 so request.is_secure()
# trusts X-Forwarded-Proto. `manage.py check --deploy` is clean with DJANGO_DEBUG off.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
_secure_default = not DEBUG and not TESTING
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", _secure_default)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", _secure_default)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", _secure_default)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if _secure_default else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Loopback health probes and the local tooling talk plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Live delivery (issue 13) ---------------------------------------------------------------
# Per-user event logs (live/), Server-Sent Events at /api/events/, idempotent message POSTs and
# the static web client. Everything of issue 13 is in this block. README.md: "Live delivery".
INSTALLED_APPS += ["live"]
# Static files (the web client, the admin's) from the app server itself: collectstatic output in
# production, the apps' folders directly in development and tests.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
STATICFILES_DIRS = [BASE_DIR / "webclient"]
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG or TESTING)
WHITENOISE_INDEX_FILE = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing folder

# Redis pub/sub carries committed events to the stream processes: by default the broker's Redis
# when the broker is Redis. Empty (the filesystem broker of `make run`): streams poll the table.
LIVE_REDIS_URL = os.environ.get(
    "LIVE_REDIS_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# Pub/sub channels are not scoped by Redis database: test sessions get a channel of their own
# (processes the suite starts inherit it through the environment).
LIVE_CHANNEL = os.environ.get("LIVE_CHANNEL") or (f"live-test-{os.getpid()}" if TESTING else "live")
LIVE_POLL_SECONDS = float(os.environ.get("LIVE_POLL_SECONDS", "0.5"))
# A comment line at least this often keeps proxies from timing a quiet stream out.
LIVE_HEARTBEAT_SECONDS = float(os.environ.get("LIVE_HEARTBEAT_SECONDS", "25"))
# Compare every stream with the table this often even when Redis looks fine (a lost publish).
LIVE_SWEEP_SECONDS = float(os.environ.get("LIVE_SWEEP_SECONDS", "25"))
LIVE_RETRY_MS = env_int("LIVE_RETRY_MS", 2000)  # the SSE `retry:` hint
# Replay window: a client further behind (in time or in events) gets a `reset` event.
LIVE_RETENTION_HOURS = env_int("LIVE_RETENTION_HOURS", 24)
LIVE_REPLAY_MAX_EVENTS = env_int("LIVE_REPLAY_MAX_EVENTS", 5_000)
# Events waiting for one slow client; past this it is disconnected (it replays on reconnect).
LIVE_QUEUE_SIZE = env_int("LIVE_QUEUE_SIZE", 256)
LIVE_MAX_CONNECTIONS_PER_USER = env_int("LIVE_MAX_CONNECTIONS_PER_USER", 10)
LIVE_TICKET_SECONDS = env_int("LIVE_TICKET_SECONDS", 60)
LIVE_STREAM_MAX_SECONDS = env_int("LIVE_STREAM_MAX_SECONDS", 3600)
# A publish larger than this carries ids only; the streams read the bodies from the table.
LIVE_PUBLISH_MAX_BYTES = env_int("LIVE_PUBLISH_MAX_BYTES", 1_000_000)
# Database reads a stream process runs at once (each thread holds a connection).
LIVE_DB_THREADS = env_int("LIVE_DB_THREADS", 4)
# Idempotency-Key answers are kept this long (pruned by beat).
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24)
# The stream is served in front of Django (live/asgi.py): this hook documents it and its event
# types in the OpenAPI schema.
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    *SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"],
    "live.schema.document_stream",
]
CELERY_BEAT_SCHEDULE |= {
    "live-prune": {"task": "live_prune", "schedule": 3600.0},
    "idempotency-prune": {"task": "idempotency_prune", "schedule": 3600.0},
}
