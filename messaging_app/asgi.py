"""ASGI entry point: the whole project, with event streams that can drop a stuck client
(live/asgi.py). `make run` serves it with uvicorn; see README.md, "Live delivery"."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_app.settings")
django_application = get_asgi_application()

from live.asgi import abortable_streams  # noqa: E402 - after Django is set up

application = abortable_streams(django_application)
