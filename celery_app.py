"""The Celery app: configured from Django settings (CELERY_ namespace), JSON only.

Task modules are listed explicitly in `include`; tests/tasks/test_registry.py asserts the names.
Start a worker with `celery -A celery_app worker -l info`.
"""

import os

from celery import Celery

# The settings module this process was started with (None in a bare checkout), and the checkout's
# default, local settings. Importing the Django project imports this module first, so
# messaging_app/wsgi.py and asgi.py read STARTED_WITH_SETTINGS to choose production instead.
STARTED_WITH_SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_app.settings.local")

app = Celery(
    "messaging_app",
    include=[
        "tasks.notifications",
        "tasks.history",
        "tasks.cleanup",
        "tasks.maintenance",
        "tasks.live",
    ],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each time a worker (re)connects to the broker it relays the outbox (tasks/worker.py).
app.steps["consumer"].add("tasks.worker:RelayOnConnect")
