"""App config of live delivery: per-user event logs, published through Redis to the streams."""

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live delivery"

    def ready(self) -> None:
        from live import signals

        signals.connect()
