"""App config of the messaging app: connects the signal receivers once, at startup."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import signals

        signals.connect()
