"""App config of the transactional outbox (side effects owed, carried by Celery tasks)."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Outbox"
