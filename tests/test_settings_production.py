"""Production settings, checked in fresh processes with a clean environment (no test defaults).

Production is chosen explicitly: DJANGO_SETTINGS_MODULE=messaging_app.settings.production, or
the WSGI/ASGI entry points, whose default it is.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import pytest

from testkit import ROOT

STRONG_KEY = secrets.token_urlsafe(50)
HOST = "api.example.com"

PRODUCTION = "messaging_app.settings.production"

_SHOW = """
import json
import pytest  # what a process has imported must not weaken anything
import django
django.setup()
from django.conf import settings
from django.test import Client, RequestFactory
names = [
    "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_CONTENT_TYPE_NOSNIFF",
    "X_FRAME_OPTIONS", "ALLOWED_HOSTS",
]
out = {name: getattr(settings, name) for name in names}
out["SETTINGS_MODULE"] = settings.SETTINGS_MODULE
out["PASSWORD_HASHER"] = settings.PASSWORD_HASHERS[0]
out["SECURE_PROXY_SSL_HEADER"] = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
factory = RequestFactory()
out["secure_plain"] = factory.get("/").is_secure()
out["secure_forwarded"] = factory.get("/", HTTP_X_FORWARDED_PROTO="https").is_secure()
client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
plain = client.get("/api/auth/me/")
forwarded = client.get("/api/auth/me/", HTTP_X_FORWARDED_PROTO="https")
out["plain_status"] = plain.status_code
out["plain_location"] = plain.get("Location")
out["forwarded_status"] = forwarded.status_code
out["forwarded_hsts"] = forwarded.get("Strict-Transport-Security")
print(json.dumps(out))
"""


# Production needs a cache its processes share (messaging/checks.py); nothing connects to it here.
# A server of its own (not the broker's: messaging.W001).
SHARED_CACHE = "redis://127.0.0.1:6399/0"


def clean_env(tmp_path, **extra: str) -> dict[str, str]:
    """Only what a bare production host has: no test settings, no test database."""
    env = {
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "CACHE_URL": SHARED_CACHE,
    }
    env.update(extra)
    return {name: value for name, value in env.items() if value is not None}


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    return clean_env(tmp_path, DJANGO_SETTINGS_MODULE=PRODUCTION, **extra)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def show(tmp_path, **extra: str) -> dict:
    result = run(["-c", _SHOW], production_env(tmp_path, **extra))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


SECRET_KEY_MISSING = (
    "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY must be set in production "
    "(messaging_app.settings.production): export a long random key, e.g. from "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
    "For development in a checkout use messaging_app.settings.local, manage.py's default."
)
ALLOWED_HOSTS_MISSING = (
    "django.core.exceptions.ImproperlyConfigured: DJANGO_ALLOWED_HOSTS must be set in production "
    "(messaging_app.settings.production): the comma-separated host names this service answers "
    "to, e.g. api.example.com."
)


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("secret", [None, ""])
def test_without_secret_key_production_fails_fast_and_clearly(tmp_path, secret):
    extra = {"DJANGO_ALLOWED_HOSTS": HOST}
    if secret is not None:
        extra["DJANGO_SECRET_KEY"] = secret
    started = time.monotonic()
    result = run(["manage.py", "check"], production_env(tmp_path, **extra))
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert last_line(result) == SECRET_KEY_MISSING


@pytest.mark.parametrize("hosts", [None, "", " , "])
def test_without_allowed_hosts_production_fails_clearly(tmp_path, hosts):
    extra = {"DJANGO_SECRET_KEY": STRONG_KEY}
    if hosts is not None:
        extra["DJANGO_ALLOWED_HOSTS"] = hosts
    result = run(["manage.py", "check"], production_env(tmp_path, **extra))
    assert result.returncode != 0
    assert last_line(result) == ALLOWED_HOSTS_MISSING


@pytest.mark.parametrize("entry_point", ["messaging_app.wsgi", "messaging_app.asgi"])
def test_the_server_entry_points_default_to_production(tmp_path, entry_point):
    bare = run(["-c", f"import {entry_point}"], clean_env(tmp_path))
    assert bare.returncode != 0
    assert last_line(bare) == SECRET_KEY_MISSING

    code = (
        f"import {entry_point}; from django.conf import settings; print(settings.SETTINGS_MODULE)"
    )
    configured = run(
        ["-c", code], clean_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    )
    assert configured.returncode == 0, configured.stderr[-3000:]
    assert configured.stdout.split() == [PRODUCTION]
    # Only settings named by the process replace production: not local's checkout default.
    local = run(
        ["-c", code], clean_env(tmp_path, DJANGO_SETTINGS_MODULE="messaging_app.settings.local")
    )
    assert local.stdout.split() == ["messaging_app.settings.local"]


@pytest.mark.parametrize("entry_point", ["messaging_app.wsgi", "messaging_app.asgi"])
def test_the_server_entry_points_load_the_broker_client_without_connecting(tmp_path, entry_point):
    """A web process's first publish spent about 130 ms importing the broker's client, in the
    publishing thread, while that process's requests waited for the GIL: the servers load it
    as they start. Nothing connects: a broker that is down does not matter yet."""
    code = f"import sys, {entry_point}; print('kombu.transport.redis' in sys.modules)"
    env = clean_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="messaging_app.settings.local",
        CELERY_BROKER_URL="redis://127.0.0.1:9/0",  # nothing listens there
    )
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True"]


def test_production_debug_is_off_and_the_hasher_is_real_even_with_pytest_imported(tmp_path):
    values = show(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    assert values["SETTINGS_MODULE"] == PRODUCTION
    assert values["DEBUG"] is False
    assert values["PASSWORD_HASHER"] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    env = production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ({"DJANGO_SECRET_KEY": "short-key"}, "security.W009"),
        ({"DJANGO_DEBUG": "1"}, "security.W018"),
        ({"DJANGO_SESSION_COOKIE_SECURE": "0"}, "security.W012"),
        ({"DJANGO_SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    ],
)
def test_check_deploy_catches_an_unsafe_setting(tmp_path, extra, warning):
    """The control: the same check does fail when production mode is weakened."""
    env = production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    env.update(extra)
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert warning in result.stderr + result.stdout


def test_production_defaults_are_secure(tmp_path):
    values = show(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == [HOST]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    # Without a trusted proxy, X-Forwarded-Proto is ignored: anyone could send it.
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert (values["secure_plain"], values["secure_forwarded"]) == (False, False)
    assert values["plain_status"] == values["forwarded_status"] == 301
    assert values["plain_location"] == f"https://{HOST}/api/auth/me/"


def test_behind_a_proxy_x_forwarded_proto_is_trusted(tmp_path):
    values = show(
        tmp_path,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_PROXY_SSL_HEADER="1",
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (values["secure_plain"], values["secure_forwarded"]) == (False, True)
    # Plain HTTP is still redirected; a request the proxy marks as HTTPS reaches the API
    # (401: no credentials) and carries HSTS.
    assert values["plain_status"] == 301
    assert values["forwarded_status"] == 401
    assert values["forwarded_hsts"].startswith("max-age=31536000")


PER_PROCESS_CACHE = "messaging.E001: The cache is per process (LocMemCache)"


@pytest.mark.parametrize("cache_url", [None, "locmem://", ""])
def test_production_refuses_a_cache_of_each_process_own(tmp_path, cache_url):
    """Several web processes and a worker each with a LocMemCache: a list cached by one would
    not see the writes served by another. `check --deploy` fails, and so does every start."""
    env = production_env(
        tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST, CACHE_URL=cache_url
    )
    result = run(["manage.py", "check", "--deploy"], env)
    assert result.returncode != 0
    assert PER_PROCESS_CACHE in result.stderr
    for start in ("import messaging_app.wsgi", "import celery_app; import django; django.setup()"):
        started = run(["-c", start], env)
        assert started.returncode != 0, start
        assert PER_PROCESS_CACHE in last_line(started), start


def test_the_shared_cache_check_is_a_registered_deploy_check(settings):
    from django.core import checks

    from messaging.checks import shared_cache_check

    assert shared_cache_check in checks.registry.registry.get_checks(include_deployment_checks=True)
    assert shared_cache_check not in checks.registry.registry.get_checks()
    settings.REQUIRE_SHARED_CACHE = True
    assert [e.id for e in shared_cache_check()] == ["messaging.E001"]  # the suite's LocMem
    settings.REQUIRE_SHARED_CACHE = False
    assert shared_cache_check() == []


@pytest.mark.parametrize(
    ("cache_url", "warned"),
    [
        ("redis://127.0.0.1:6379/1", True),  # another database number on the broker's server
        ("redis://localhost/5", True),
        ("redis://127.0.0.1:6380/0", False),  # a Redis server of its own
        ("redis://cache.internal:6379/0", False),  # another host
    ],
)
def test_check_warns_when_the_cache_shares_the_brokers_redis(tmp_path, cache_url, warned):
    env = production_env(
        tmp_path,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        CELERY_BROKER_URL="redis://localhost:6379/0",
        CACHE_URL=cache_url,
    )
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert ("messaging.W001" in result.stdout + result.stderr) is warned
    assert (result.returncode != 0) is warned


_SHOW_BROKER = """
import json
import django
django.setup()
from celery_app import app
print(json.dumps({"url": app.conf.broker_url, "options": app.conf.broker_transport_options}))
"""
SENTINELS = "sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380;sentinel://127.0.0.1:26381"


def test_a_sentinel_broker_gets_its_master_name_beside_the_other_transport_options(tmp_path):
    env = production_env(
        tmp_path,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        CELERY_BROKER_URL=SENTINELS,
        CELERY_BROKER_SENTINEL_MASTER="broker",
    )
    result = run(["-c", _SHOW_BROKER], env)
    assert result.returncode == 0, result.stderr[-3000:]
    conf = json.loads(result.stdout.strip().splitlines()[-1])
    assert conf["url"] == SENTINELS
    assert conf["options"]["master_name"] == "broker"
    # merged with, not instead of, the producer's bounds
    assert conf["options"]["socket_connect_timeout"] == 1
    assert conf["options"]["max_retries"] == 1


def test_a_sentinel_broker_without_a_master_name_fails_clearly(tmp_path):
    env = production_env(
        tmp_path,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        CELERY_BROKER_URL=SENTINELS,
    )
    result = run(["-c", _SHOW_BROKER], env)
    assert result.returncode != 0
    assert "set CELERY_BROKER_SENTINEL_MASTER" in last_line(result)


def test_the_liveness_path_answers_plain_http_for_load_balancers(tmp_path):
    """/api/health/live/ is exempt from the HTTPS redirect, like /api/health/."""
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"r = Client(HTTP_HOST='{HOST}').get('/api/health/live/')\n"
        "print(r.status_code, r.json())\n"
    )
    env = production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "200 {'status': 'ok'}"
