"""App config of the messaging app: connects the signal receivers once, registers the app's
system checks, and refuses a cache that production's processes would not share."""

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import checks, signals  # importing checks registers them

        signals.connect()
        # Gunicorn and Celery run no system checks: refuse at start-up, in every process.
        for error in checks.shared_cache_check():
            raise ImproperlyConfigured(f"{error.id}: {error.msg} {error.hint}")
