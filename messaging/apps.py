"""App config of the messaging app: connects the signal receivers once, at startup, and
registers the app's system checks."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import checks, signals  # noqa: F401 - importing registers the checks

        signals.connect()
