"""Settings every environment shares, read from the environment with safe local defaults.

Not a settings module of its own: local.py (development, the default of manage.py and the
Celery app), test.py (pytest) and production.py (the WSGI/ASGI entry points) build on it, in the
shape of cookiecutter-django's config/settings/. README.md lists every variable read here.
https://docs.djangoproject.com/en/5.2/ref/settings/
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

REDIS_CACHE_BACKEND = "core.redis_cache.RedisCache"  # Django's, without a client per call


class Env(environ.Env):
    """django-environ's reader, with three habits of this project kept.

    An empty variable counts as unset: `DJANGO_SECURE_SSL_REDIRECT= gunicorn ...` keeps the secure
    default instead of reading as false. `locmem://` names LocMemCache, and redis:// always means
    Django's own Redis cache backend, in core/redis_cache.py's subclass
    (https://django-environ.readthedocs.io/en/latest/types.html).
    """

    CACHE_SCHEMES = {
        **environ.Env.CACHE_SCHEMES,
        "locmem": "django.core.cache.backends.locmem.LocMemCache",
        "redis": REDIS_CACHE_BACKEND,
        "rediss": REDIS_CACHE_BACKEND,
    }

    def __init__(self, **scheme) -> None:
        super().__init__(**scheme)
        self.ENVIRON = {name: value for name, value in os.environ.items() if value}


env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state (the SQLite database, the development key, the filesystem broker). Nothing here
# creates it: whatever writes the first file there does (local.py, tests/conftest.py).
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -----------------------------------------------------------------------------------
# Off unless asked for; local.py turns it on. SECRET_KEY is set by each settings module.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    cast=str.strip,
    default=["127.0.0.1", "localhost", "[::1]", "testserver"],
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", cast=str.strip, default=[])

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
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "accounts",
    "chats",
    "messaging",
    "outbox",
    "live",
    "tasks",
    "monitoring",
]

MIDDLEWARE = [
    # Outermost: every answer under /api/ is private to its caller, the guards' answers too.
    "messaging_app.middleware.PrivateAPIMiddleware",
    "messaging_app.middleware.RequestSizeLimitMiddleware",
    # A body that cannot be parsed (deeply nested JSON) in Django-level forms is a 400.
    "messaging_app.middleware.UnparsableInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the web client, the admin's) from the app server itself: collectstatic's
    # output in production, the apps' folders directly in development and tests.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

# `manage.py test [app]` runs the pytest suite (on the test settings) for that app.
TEST_RUNNER = "messaging_app.test_runner.PytestRunner"
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
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
USES_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if USES_SQLITE:
    # Django's backend, with writers queued on a file lock instead of SQLite's sleeping retries
    # (core/sqlite/base.py explains and measures it).
    DATABASES["default"]["ENGINE"] = "core.sqlite"
    # The web server and the worker write the same file: WAL lets readers run beside a writer,
    # IMMEDIATE takes the write lock up front so concurrent writers wait instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cache ----------------------------------------------------------------------------------
# LocMemCache is per process; CACHE_URL=redis://host:6379/1 shares the cache between web
# processes and the worker (https://docs.djangoproject.com/en/5.2/topics/cache/#redis).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmem://messaging")}
# Several deployments (or test runs) sharing one Redis keep apart by a prefix of their own.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="")
if CACHES["default"]["BACKEND"] == REDIS_CACHE_BACKEND:
    # A dead Redis must not hang a request: one second to connect or answer (?options override).
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
        **CACHES["default"].get("OPTIONS", {}),
    }
# The list cache (messaging/list_cache.py) stores a response only up to this size; a bigger
# page is served uncached. With LocMemCache a process holds at most LOCMEM_CACHE_MAX_ENTRIES
# entries, so the cache's memory is bounded by LOCMEM_CACHE_MAX_ENTRIES x
# LIST_CACHE_MAX_ENTRY_BYTES (2,000 x 64 KiB = 125 MiB by default). A Redis cache bounds itself:
# give it its own Redis server with maxmemory and `maxmemory-policy allkeys-lru`, apart from the
# broker's (which keeps `noeviction`); `manage.py check` warns when CACHE_URL names the broker's
# Redis server (messaging.W001).
LIST_CACHE_MAX_ENTRY_BYTES = env.int("LIST_CACHE_MAX_ENTRY_BYTES", default=64 * 1024)
LOCMEM_CACHE_MAX_ENTRIES = env.int("LOCMEM_CACHE_MAX_ENTRIES", default=2_000)
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    CACHES["default"]["OPTIONS"] = {
        "MAX_ENTRIES": LOCMEM_CACHE_MAX_ENTRIES,
        **CACHES["default"].get("OPTIONS", {}),
    }

# Seconds a cached message list lives (the per-user versioned keys make it read-your-writes).
MESSAGE_LIST_CACHE_TIMEOUT = env.int("MESSAGE_LIST_CACHE_TIMEOUT", default=60)

# --- Internationalization and static files --------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "webclient"]
WHITENOISE_INDEX_FILE = True

# --- Request limits -------------------------------------------------------------------------
# Bodies above this are refused with 413 before any parsing (a message is at most 10,000 chars).
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
MESSAGE_MAX_LENGTH = 10_000
CONVERSATION_MAX_PARTICIPANTS = env.int("CONVERSATION_MAX_PARTICIPANTS", default=500)
# The thread endpoint returns at most this many messages (oldest first) and says when it cut.
THREAD_MAX_MESSAGES = env.int("THREAD_MAX_MESSAGES", default=1_000)
# ... and at most this many levels below the message asked for (deeper replies are cut too).
THREAD_MAX_DEPTH = env.int("THREAD_MAX_DEPTH", default=100)

# --- REST framework -------------------------------------------------------------------------


def env_rate(name: str, default: str) -> str | None:
    """A throttle rate such as `30/minute` (s, m, h, d); `off` disables the limit."""
    value = env(name, default=default).strip()
    return None if value.lower() in {"off", "none"} else value


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
    # Any body that cannot be parsed is a 400 (core/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "messaging_app.errors.exception_handler",
    # The client's address, for throttles and login lockouts alike (core/throttling.py): the
    # peer (REMOTE_ADDR), or behind NUM_PROXIES trusted proxies the address the outermost of them
    # put into X-Forwarded-For. Never set it higher than the number of proxies that really append
    # to the header: the entries before theirs are whatever the client sent.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_THROTTLE_RATES": {
        "register": env("THROTTLE_REGISTER", default="20/hour"),
        "token": env("THROTTLE_TOKEN", default="60/minute"),
        # Per-user sending limits, answered with 429, Retry-After and the IETF RateLimit
        # headers: messages (direct and group together) in a burst and per day, and new
        # conversations per hour. A person typing stays far below them; a script does not.
        "message_send": env_rate("THROTTLE_MESSAGES", "30/minute"),
        "message_send_day": env_rate("THROTTLE_MESSAGES_DAY", "1000/day"),
        "conversation_create": env_rate("THROTTLE_CONVERSATIONS", "20/hour"),
        # Guesses at the caller's own password (password change, account deletion), per user.
        "password_check": env_rate("THROTTLE_PASSWORD", "10/hour"),
    },
}

# Login lockout per account and per address on every login path: the JWT token endpoint, the
# admin and the browsable API's session login (django-axes, https://django-axes.readthedocs.io).
# LOGIN_FAILURE_LIMIT failed logins for one account, or from one address, within the cool-off
# lock it for LOGIN_COOLOFF_MINUTES; every attempt during a lockout starts the cool-off again.
# The right password is refused meanwhile. The answer is a JSON 429 with Retry-After.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.throttling.client_address"
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_LOCKOUT_CALLABLE = "core.throttling.lockout_response"
# A success must not wipe the failures: rows are per (username, address), and an attacker's own
# login would reset the counts of the accounts guessed from the same address.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # keep no log of successful logins (addresses, user agents)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    # Tokens do not outlive a password change: each carries a hash of the password it was
    # issued under and is refused once that changes; the password endpoint also blacklists the
    # refresh tokens issued before, and logout blacklists one (simplejwt's token blacklist app,
    # whose expired rows `manage.py flushexpiredtokens` deletes, daily under beat).
    "CHECK_REVOKE_TOKEN": True,
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
        # The stream is served in front of Django (live/asgi.py): document it and its events.
        "live.schema.document_stream",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html (read with the CELERY_ prefix)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=env.int("CELERY_RESULT_EXPIRES_DAYS", default=7))
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# At-least-once: a task is acknowledged when it is done, and a killed worker's tasks go back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
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
# Redis Sentinel, for a broker that survives its master's death (Redis Cluster is no Celery
# broker): CELERY_BROKER_URL=sentinel://h1:26379;sentinel://h2:26379;sentinel://h3:26379 and the
# name the sentinels monitor. Workers and publishers ask the sentinels for the master on every
# (re)connect, so they follow a failover. https://docs.celeryq.dev/en/stable/getting-started/
# backends-and-brokers/redis.html#configuration
CELERY_BROKER_SENTINEL_MASTER = env("CELERY_BROKER_SENTINEL_MASTER", default="")
if CELERY_BROKER_URL.startswith("sentinel://"):
    if not CELERY_BROKER_SENTINEL_MASTER:
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL names sentinels: set CELERY_BROKER_SENTINEL_MASTER to the master's "
            "name in their configuration (`sentinel monitor <name> ...`)."
        )
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = CELERY_BROKER_SENTINEL_MASTER


def task_queues(latency: str, bulk: str) -> tuple[tuple[Queue, ...], dict[str, dict]]:
    """The queues and the routes between them: latency-sensitive work never waits behind bulk.

    A purge of a big account or a prune takes minutes; on the queue and pool of the notifications
    it would delay every notification behind it. The relay is latency work: it is what recovers
    the latency path after an outage. Tasks not named go to the latency queue (the default).
    A worker started without -Q consumes both (`make run`); `-Q <name>` gives each its own.
    https://docs.celeryq.dev/en/stable/userguide/routing.html
    """
    latency_tasks = (
        "notification_create_for_messages",
        "message_history_archive",
        "outbox_relay",
        # Live delivery's fan-out tasks.
        "message_delete_announce",
        "conversation_membership_announce",
    )
    bulk_tasks = (
        "user_data_purge",
        "outbox_prune",
        "task_results_cleanup",
        "flush_expired_tokens",
        "live_prune",
        "idempotency_prune",
    )
    routes = {name: {"queue": latency} for name in latency_tasks}
    routes |= {name: {"queue": bulk} for name in bulk_tasks}
    return (Queue(latency, routing_key=latency), Queue(bulk, routing_key=bulk)), routes


# The latency queue is Celery's default queue; CELERY_BULK_QUEUE names the other.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="latency")
BULK_QUEUE = env("CELERY_BULK_QUEUE", default="bulk")
CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = task_queues(CELERY_TASK_DEFAULT_QUEUE, BULK_QUEUE)
# The worker's consumer reconnects to a lost broker every second (Celery's waits up to 30 s)
# and relays the outbox on each connect (tasks/worker.py).
CELERY_WORKER_CONSUMER = "tasks.worker:Consumer"


def filesystem_broker_options(folder: Path) -> dict:
    """Transport options of Kombu's filesystem broker, the fallback when no Redis runs.

    One machine only; the web process and the worker must share `folder`. The transport
    (tasks/filesystem_transport.py) creates the folders when it opens them.
    """
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
    "live-prune": {"task": "live_prune", "schedule": 3600.0},
    "idempotency-prune": {"task": "idempotency_prune", "schedule": 3600.0},
    "flush-expired-tokens": {
        "task": "flush_expired_tokens",
        "schedule": crontab(minute=30, hour=4),
    },
    # Deletes results older than CELERY_RESULT_EXPIRES (the django-db backend does not expire
    # them by itself), under the periodic lock (tasks/maintenance.py). The entry beat would add
    # for celery.backend_cleanup has this name: ours replaces it, so there is one row.
    "celery.backend_cleanup": {
        "task": "task_results_cleanup",
        "schedule": crontab(minute=0, hour=4),
        "options": {"expire_seconds": 12 * 3600},
    },
}

# Transactional outbox: events not done after this many seconds are sent again by the relay;
# done events are pruned after OUTBOX_RETENTION_HOURS.
# On the filesystem broker sooner, as a safety net: a one-machine fallback whose message files
# (written atomically by tasks/filesystem_transport.py) have no broker-side redelivery.
OUTBOX_RELAY_GRACE_SECONDS = env.int(
    "OUTBOX_RELAY_GRACE_SECONDS",
    default=15 if CELERY_BROKER_URL.startswith("filesystem://") else 60,
)
OUTBOX_RETENTION_HOURS = env.int("OUTBOX_RETENTION_HOURS", default=24)
# An event resent this many times by the relay and still not done is dead: the relay leaves it
# and monitoring shows it (manage.py outbox_relay --retry-dead sends it again).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
# Tasks that drain every pending event of their name: while one is queued and not started, no
# other is published for it (outbox/services.py, coalescing; needs a shared cache).
OUTBOX_COALESCED_TASKS = [
    "notification_create_for_messages",
    "message_history_archive",
    "message_delete_announce",
    "conversation_membership_announce",
]
# How many events one worker task drains at once (batched inserts; see tasks/notifications.py).
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=500)
# Tasks that can read before their write transaction (outbox_drain's `prepare`) do so where a
# transaction holds the whole database's write lock (SQLite), so that the web processes wait
# less for it. On PostgreSQL they read inside it: fewer statements, and its row locks stop nobody.
OUTBOX_READ_BEFORE_WRITE = USES_SQLITE
# Publish after commit from a background thread, so that no request waits for the broker.
OUTBOX_PUBLISH_IN_BACKGROUND = env.bool("OUTBOX_PUBLISH_IN_BACKGROUND", default=True)
# Rows deleted per transaction by the account purge.
PURGE_BATCH_SIZE = env.int("PURGE_BATCH_SIZE", default=1_000)
# Pause between purge batches. SQLite has one write lock, and a writer waiting for it backs
# off up to 100 ms: without a pause a long purge starves everybody else's writes.
PURGE_BATCH_PAUSE_SECONDS = env.float(
    "PURGE_BATCH_PAUSE_SECONDS", default=0.15 if USES_SQLITE else 0.0
)

# --- Security ---------------------------------------------------------------------------------
# Headers safe everywhere; TLS (redirect, HSTS, secure cookies) is production.py's.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Live delivery ----------------------------------------------------------------------------
# Per-user event logs (live/), Server-Sent Events at /api/events/ and idempotent message POSTs.
# README.md: "Live delivery".
# Redis pub/sub carries committed events to the stream processes: by default the broker's Redis
# when the broker is Redis. `off` (the filesystem broker of `make run`): streams poll the table.


def live_redis_url(default: str) -> str:
    url = env("LIVE_REDIS_URL", default=default)
    return "" if url.lower() in ("off", "none") else url


LIVE_REDIS_URL = live_redis_url(
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
# Pub/sub channels are not scoped by Redis database (test.py gives each test session its own).
LIVE_CHANNEL = env("LIVE_CHANNEL", default="live")
LIVE_POLL_SECONDS = env.float("LIVE_POLL_SECONDS", default=0.5)
# A comment line at least this often keeps proxies from timing a quiet stream out.
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=25.0)
# Compare every stream with the table this often even when Redis looks fine (a lost publish).
LIVE_SWEEP_SECONDS = env.float("LIVE_SWEEP_SECONDS", default=25.0)
LIVE_RETRY_MS = env.int("LIVE_RETRY_MS", default=2000)  # the SSE `retry:` hint
# Replay window: a client further behind (in time or in events) gets a `reset` event.
LIVE_RETENTION_HOURS = env.int("LIVE_RETENTION_HOURS", default=24)
LIVE_REPLAY_MAX_EVENTS = env.int("LIVE_REPLAY_MAX_EVENTS", default=5_000)
# Events waiting for one slow client; past this it is disconnected (it replays on reconnect).
LIVE_QUEUE_SIZE = env.int("LIVE_QUEUE_SIZE", default=256)
LIVE_MAX_CONNECTIONS_PER_USER = env.int("LIVE_MAX_CONNECTIONS_PER_USER", default=10)
LIVE_TICKET_SECONDS = env.int("LIVE_TICKET_SECONDS", default=60)
LIVE_STREAM_MAX_SECONDS = env.int("LIVE_STREAM_MAX_SECONDS", default=3600)
# A publish larger than this carries ids only; the streams read the bodies from the table.
LIVE_PUBLISH_MAX_BYTES = env.int("LIVE_PUBLISH_MAX_BYTES", default=1_000_000)
# Database reads a stream process runs at once (each thread holds a connection).
LIVE_DB_THREADS = env.int("LIVE_DB_THREADS", default=4)
# Idempotency-Key answers are kept this long (pruned by beat).
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
