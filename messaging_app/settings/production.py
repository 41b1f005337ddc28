"""Production: chosen explicitly (the WSGI/ASGI entry points, or DJANGO_SETTINGS_MODULE).

Refuses to start without a secret key and the host names it serves; HTTPS everywhere by default.
`manage.py check --deploy --fail-level WARNING` is clean with those two set.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set in production (messaging_app.settings.production): "
        "export a long random key, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
        "For development in a checkout use messaging_app.settings.local, manage.py's default."
    )
ALLOWED_HOSTS = [
    host for host in env.list("DJANGO_ALLOWED_HOSTS", cast=str.strip, default=[]) if host
]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must be set in production (messaging_app.settings.production): "
        "the comma-separated host names this service answers to, e.g. api.example.com."
    )

# Several processes serve the API and the worker writes: the cache must be one they share
# (messaging/checks.py refuses LocMemCache). Set CACHE_URL=redis://...
REQUIRE_SHARED_CACHE = True

# --- TLS ------------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/#https
# Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=1 so request.is_secure()
# trusts X-Forwarded-Proto (without a proxy anyone could send that header).
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Loopback health probes (and the load balancer's liveness check) talk plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^api/health/live/$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
