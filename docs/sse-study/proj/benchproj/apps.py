from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchproj"
    default = True

    def ready(self):
        from django.conf import settings

        if settings.SSE_MODE == "eventstream":
            from . import eventstream_patch

            eventstream_patch.apply()
