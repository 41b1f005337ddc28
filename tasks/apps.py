"""App config of the tasks app: the Celery tasks (listed in celery_app.py) and their transport."""

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Background tasks"
