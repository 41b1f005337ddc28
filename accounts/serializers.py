"""JSON shapes of registration, tokens and the caller's own account."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

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
    """simplejwt's refresh, but a 401 instead of a 500 when the token's user no longer exists,
    and a 401 for a token issued under an earlier password (simplejwt checks that claim on
    access tokens only, and would hand out an access token that is refused at once).

    write_only: the answer carries only `access` (no rotation), and the schema says so.
    """

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs):
        try:
            data = super().validate(attrs)
        except User.DoesNotExist as exc:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc
        if api_settings.CHECK_REVOKE_TOKEN:
            refresh = self.token_class(attrs["refresh"])
            user = User.objects.filter(pk=refresh.payload.get(api_settings.USER_ID_CLAIM)).first()
            claim = refresh.payload.get(api_settings.REVOKE_TOKEN_CLAIM)
            if user is None or claim != get_md5_hash_password(user.password):
                raise AuthenticationFailed("The password has changed.", "password_changed")
        return data


class TokenPairSerializer(serializers.Serializer):
    """A new JWT pair (the answer of a password change)."""

    refresh = serializers.CharField(read_only=True)
    access = serializers.CharField(read_only=True)


def password_field() -> serializers.CharField:
    return serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})


class PasswordChangeSerializer(serializers.Serializer):
    old_password = password_field()
    new_password = password_field()


class PasswordConfirmSerializer(serializers.Serializer):
    """The caller's current password, asked again before an irreversible step."""

    password = password_field()

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError("Wrong password.")
        return value


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username", "email")
        read_only_fields = fields
