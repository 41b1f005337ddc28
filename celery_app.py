"""The Celery app: configured from Django settings (CELERY_ namespace), JSON only.

Task modules are listed explicitly in `include`; tests/test_tasks_registry.py asserts the names.
Start a worker with `celery -A celery_app worker -l info`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_app.settings")

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
