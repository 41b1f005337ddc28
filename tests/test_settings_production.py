"""Production settings, checked in fresh processes with a clean environment (no test defaults)."""

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

_SHOW = """
import json
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


def clean_env(tmp_path, **extra: str) -> dict[str, str]:
    """Only what a bare production host has: no DJANGO_TESTING, no pytest, no test database."""
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "HOME": str(tmp_path)}
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def show(tmp_path, **extra: str) -> dict:
    env = clean_env(tmp_path, DJANGO_SETTINGS_MODULE="messaging_app.settings", **extra)
    result = run(["-c", _SHOW], env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("secret", "debug"), [(None, None), ("", "0"), (None, "false")])
def test_without_secret_key_and_debug_off_check_fails_fast_and_clearly(tmp_path, secret, debug):
    extra = {}
    if secret is not None:
        extra["DJANGO_SECRET_KEY"] = secret
    if debug is not None:
        extra["DJANGO_DEBUG"] = debug
    started = time.monotonic()
    result = run(["manage.py", "check"], clean_env(tmp_path, **extra))
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY must be set when "
        "DJANGO_DEBUG is off. Set DJANGO_DEBUG=1 for local development, or export a long random "
        "DJANGO_SECRET_KEY."
    )


def test_debug_is_off_unless_asked_for(tmp_path):
    assert show(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY)["DEBUG"] is False
    # What `make run` does: debug on, and then a development key is allowed.
    assert show(tmp_path, DJANGO_DEBUG="1")["DEBUG"] is True


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    env = clean_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
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
    env = clean_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS=HOST)
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


@pytest.mark.parametrize(
    ("cache_url", "warned"),
    [
        ("redis://127.0.0.1:6379/1", True),  # another database number on the broker's server
        ("redis://localhost/5", True),
        ("redis://127.0.0.1:6380/0", False),  # a Redis server of its own
        ("locmem://", False),
    ],
)
def test_check_warns_when_the_cache_shares_the_brokers_redis(tmp_path, cache_url, warned):
    env = clean_env(
        tmp_path,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        CELERY_BROKER_URL="redis://localhost:6379/0",
        CACHE_URL=cache_url,
    )
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert ("messaging.W001" in result.stdout + result.stderr) is warned
    assert (result.returncode != 0) is warned
