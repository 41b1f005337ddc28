"""Admin of the outbox (django-celery-results and -beat register their own admins)."""

from django.contrib import admin
from django.utils import timezone

from outbox.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "task",
        "key",
        "created_at",
        "attempts",
        "next_attempt_at",
        "processed_at",
        "dead_at",
    )
    list_filter = (
        "task",
        ("processed_at", admin.EmptyFieldListFilter),
        ("dead_at", admin.EmptyFieldListFilter),
        "created_at",
    )
    search_fields = ("id", "key")
    readonly_fields = ("id", "task", "payload", "key", "created_at")
    actions = ["retry"]

    @admin.action(description="Send again now (revives dead events)")
    def retry(self, request, queryset) -> None:
        revived = queryset.filter(processed_at__isnull=True).update(
            dead_at=None, attempts=0, next_attempt_at=timezone.now()
        )
        self.message_user(request, f"{revived} events are due now; the relay sends them.")
