"""JSON shapes of conversations."""

from django.conf import settings
from rest_framework import serializers

from accounts.models import User
from chats.models import Conversation
from core.ids import MAX_ID


class ParticipantSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username")
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    participants = ParticipantSerializer(many=True, read_only=True)

    class Meta:
        model = Conversation
        fields = ("id", "participants", "created_by", "created_at")
        read_only_fields = fields


class ConversationCreateSerializer(serializers.Serializer):
    participants = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        allow_empty=False,
        max_length=settings.CONVERSATION_MAX_PARTICIPANTS,
    )

    def validate_participants(self, value: list[int]) -> list[User]:
        caller = self.context["request"].user
        wanted = set(value) - {caller.pk}
        if not wanted:
            raise serializers.ValidationError("Name at least one other participant.")
        users = list(User.objects.filter(pk__in=wanted, is_active=True).only("id"))
        if len(users) != len(wanted):
            # Never which ones: naming the ids that do not exist would list every account.
            raise serializers.ValidationError("Some participants are invalid.")
        return users
