"""Admin of messages, read marks, notifications and edit history."""

from django.contrib import admin

from messaging.models import Message, MessageHistory, MessageRead, Notification


class MessageHistoryInline(admin.TabularInline):
    model = MessageHistory
    extra = 0
    can_delete = False
    readonly_fields = ("revision", "old_content", "edited_by", "edited_at")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "sender",
        "receiver",
        "conversation",
        "short_content",
        "timestamp",
        "edited",
    )
    list_filter = ("edited", ("conversation", admin.EmptyFieldListFilter), "timestamp")
    search_fields = ("content", "sender__username", "receiver__username")
    autocomplete_fields = ("sender", "receiver", "edited_by")
    raw_id_fields = ("parent_message", "conversation")
    readonly_fields = ("edit_count",)
    list_select_related = ("sender", "receiver")
    date_hierarchy = "timestamp"
    inlines = [MessageHistoryInline]

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content if len(obj.content) <= 60 else obj.content[:57] + "..."


@admin.register(MessageRead)
class MessageReadAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "message", "read_at")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
    raw_id_fields = ("message",)
    list_select_related = ("user",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "message", "created_at", "read")
    list_filter = ("read", "created_at")
    search_fields = ("user__username", "message__content")
    autocomplete_fields = ("user",)
    raw_id_fields = ("message",)
    list_select_related = ("user",)


@admin.register(MessageHistory)
class MessageHistoryAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "revision", "edited_by", "edited_at")
    list_filter = ("edited_at",)
    search_fields = ("old_content",)
    autocomplete_fields = ("edited_by",)
    raw_id_fields = ("message",)
    list_select_related = ("edited_by",)
