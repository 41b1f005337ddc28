"""App config of monitoring: health checks, the staff task API, and Celery signal hooks."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import signals

        signals.connect()
