"""App config of the messaging app: connects the signal receivers once, and refuses a cache
that production's processes would not share (messaging/checks.py)."""

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import signals
        from messaging.checks import shared_cache_check

        signals.connect()
        checks.register(shared_cache_check, checks.Tags.caches, deploy=True)
        # Gunicorn and Celery run no system checks: refuse at start-up, in every process.
        for error in shared_cache_check():
            raise ImproperlyConfigured(f"{error.id}: {error.msg} {error.hint}")
