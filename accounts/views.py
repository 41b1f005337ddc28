"""HTTP adapters of the accounts API: register, obtain and refresh tokens, show the caller."""

from __future__ import annotations

from rest_framework import generics
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import services
from accounts.serializers import MeSerializer, RegisterSerializer, SafeTokenRefreshSerializer
from core.throttling import login_locked_out


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


class MeView(generics.RetrieveAPIView):
    serializer_class = MeSerializer

    def get_object(self):
        return self.request.user
