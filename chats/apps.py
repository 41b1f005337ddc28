"""App config of the chats app (group conversations)."""

from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from chats import signals

        signals.connect()
