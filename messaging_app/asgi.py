"""ASGI entry point: event streams (GET /api/events/) served in front of Django (live/asgi.py),
everything else by Django. `make run` serves it with uvicorn; see README.md, "Live delivery"."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_app.settings")
django_application = get_asgi_application()

from live.asgi import with_live_streams  # noqa: E402 - after Django is set up

application = with_live_streams(django_application)
