"""Admin of the outbox (django-celery-results and -beat register their own admins)."""

from django.contrib import admin

from outbox.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "key", "created_at", "attempts", "last_sent_at", "processed_at")
    list_filter = ("task", ("processed_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("id", "key")
    readonly_fields = ("id", "task", "payload", "key", "created_at")
