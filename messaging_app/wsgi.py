"""WSGI entry point (gunicorn messaging_app.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_app.settings")
application = get_wsgi_application()
