"""Admin of conversations."""

from django.contrib import admin

from chats.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "created_by", "created_at", "participant_count")
    list_filter = ("created_at",)
    search_fields = ("participants__username", "created_by__username")
    autocomplete_fields = ("participants", "created_by")

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_participants=Count("participants"))

    @admin.display(description="participants", ordering="_participants")
    def participant_count(self, obj) -> int:
        return obj._participants
