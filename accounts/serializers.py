"""JSON shapes of registration, tokens and the caller's own account."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts.models import User


class RegisterSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    # write_only: the 201 body is {id, username} (to_representation), and the schema says so.
    email = serializers.EmailField(max_length=254, write_only=True)

    class Meta:
        model = User
        fields = ("id", "username", "password", "email")
        read_only_fields = ("id",)

    def to_representation(self, instance):
        return {"id": instance.pk, "username": instance.username}


class SafeTokenRefreshSerializer(TokenRefreshSerializer):
    # simplejwt's refresh, but a 401 instead of a 500 when the token's user no longer exists.
    # write_only: the answer carries only `access` (no rotation), and the schema says so.
    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except User.DoesNotExist as exc:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username", "email")
        read_only_fields = fields
