"""HTTP adapters of the accounts API: register, obtain, refresh and revoke tokens, change the
password, show the caller."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from accounts import services, tokens
from accounts.serializers import (
    MeSerializer,
    PasswordChangeSerializer,
    RegisterSerializer,
    SafeTokenRefreshSerializer,
    TokenPairSerializer,
)
from core.throttling import PasswordCheckThrottle, RateLimitedMixin, login_locked_out


class RegisterView(generics.CreateAPIView):
    serializer_class = RegisterSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    def perform_create(self, serializer):
        serializer.instance = services.user_register(**serializer.validated_data)


class ThrottledTokenObtainPairView(TokenObtainPairView):
    """A JWT pair for a username and password; throttled per address, locked out per account.

    django-axes (its backend comes first in AUTHENTICATION_BACKENDS) refuses the login of a
    locked-out account or address and marks the request; simplejwt would answer that with a
    plain 401, this view answers 429 with Retry-After.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise login_locked_out(request) from None
            raise


class ThrottledTokenRefreshView(TokenRefreshView):
    serializer_class = SafeTokenRefreshSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"


class LogoutView(TokenBlacklistView):
    """Blacklist a refresh token (`{refresh}`): it gives no new access token any more.

    The access tokens already issued lapse by themselves (JWT_ACCESS_MINUTES). Holding the
    refresh token is enough, so a client whose access token has expired can still log out.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema(request=TokenBlacklistSerializer, responses={204: None})
    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(RateLimitedMixin, generics.GenericAPIView):
    """Change the caller's password; every token issued before is revoked.

    The answer is a new token pair, so that this client stays logged in.
    """

    serializer_class = PasswordChangeSerializer
    rate_limits = {"post": [PasswordCheckThrottle]}

    @extend_schema(request=PasswordChangeSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        services.user_password_change(user=user, **serializer.validated_data)
        # Access tokens are refused by their password claim; refresh tokens are blacklisted too.
        tokens.revoke_refresh_tokens(user=user)
        update_session_auth_hash(request, user)  # keeps the browsable API's session
        return Response(tokens.token_pair(user))


class MeView(generics.RetrieveAPIView):
    serializer_class = MeSerializer

    def get_object(self):
        return self.request.user
