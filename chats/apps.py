"""App config of the chats app (group conversations and their membership)."""

from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Conversations"
