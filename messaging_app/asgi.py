"""ASGI entry point, on production settings by default."""

import os

from django.core.asgi import get_asgi_application

from celery_app import STARTED_WITH_SETTINGS

# Not setdefault: messaging_app/__init__.py has already imported celery_app, which defaults to
# the local (development) settings. A server gets them only by asking for them.
os.environ["DJANGO_SETTINGS_MODULE"] = STARTED_WITH_SETTINGS or "messaging_app.settings.production"
application = get_asgi_application()
