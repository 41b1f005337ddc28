"""ASGI entry point, on production settings by default: event streams (GET /api/events/)
served in front of Django (live/asgi.py), everything else by Django. `make run` serves it with
uvicorn; see README.md, "Live delivery"."""

import os

from django.core.asgi import get_asgi_application

from celery_app import STARTED_WITH_SETTINGS

# Not setdefault: messaging_app/__init__.py has already imported celery_app, which defaults to
# the local (development) settings. A server gets them only by asking for them.
os.environ["DJANGO_SETTINGS_MODULE"] = STARTED_WITH_SETTINGS or "messaging_app.settings.production"
django_application = get_asgi_application()

from live.asgi import with_live_streams  # noqa: E402 - after Django is set up
from outbox.services import outbox_load_publisher  # noqa: E402

application = with_live_streams(django_application)
outbox_load_publisher()
