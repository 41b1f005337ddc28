"""App config of the tasks app (the outbox model and the Celery task modules)."""

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Background tasks"

    def ready(self) -> None:
        from tasks import signals

        signals.connect()
