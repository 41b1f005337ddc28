"""WSGI entry point (gunicorn messaging_app.wsgi), on production settings by default."""

import os

from django.core.wsgi import get_wsgi_application

from celery_app import STARTED_WITH_SETTINGS

# Not setdefault: messaging_app/__init__.py has already imported celery_app, which defaults to
# the local (development) settings. A server gets them only by asking for them.
os.environ["DJANGO_SETTINGS_MODULE"] = STARTED_WITH_SETTINGS or "messaging_app.settings.production"
application = get_wsgi_application()

from outbox.services import outbox_load_publisher  # noqa: E402 - after Django is set up

outbox_load_publisher()
