"""Who a request comes from, per-user rate limits, and the answers of throttles and lockouts.

Throttles (DRF) and login lockouts (django-axes) take the client's address from one rule:
`client_address`, DRF's own with the NUM_PROXIES setting. Views list their per-user rates in
`rate_limits` (RateLimitedMixin), which also reports them in the IETF RateLimit headers
(draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`).
"""

from __future__ import annotations

import ipaddress
import math

from axes.helpers import get_cool_off
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

LOCKOUT_MESSAGE = "Too many failed login attempts for this account or from this address."


def client_address(request) -> str | None:
    """The peer's address (REMOTE_ADDR), or behind NUM_PROXIES proxies the one they forwarded.

    An entry of X-Forwarded-For that is not an IP address (the header of a client that reached
    the server without going through the proxies) falls back to the peer.
    """
    address = BaseThrottle().get_ident(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return request.META.get("REMOTE_ADDR")
    return address


def lockout_seconds(request=None) -> int:
    """How long a locked-out login waits; every attempt during the lockout starts it again."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def login_locked_out(request) -> Throttled:
    """The API's answer to a locked-out login: 429, `Retry-After`, a JSON `detail`."""
    return Throttled(wait=lockout_seconds(request), detail=LOCKOUT_MESSAGE)


def lockout_response(request, original_response=None, credentials=None) -> JsonResponse:
    """django-axes' answer on the session logins (/admin/login/, /api-auth/login/), as JSON."""
    seconds = lockout_seconds(request)
    response = JsonResponse(
        {"detail": f"{LOCKOUT_MESSAGE} Try again in {seconds} seconds."}, status=429
    )
    response["Retry-After"] = str(seconds)
    return response


class PolicyThrottle(SimpleRateThrottle):
    """A named rate per user (per address for an anonymous caller), from DEFAULT_THROTTLE_RATES.

    The rate is read from the settings at each request (not once at import, as DRF's scoped
    throttles do), so it can be changed by configuration and in tests. A rate of None disables
    the limit. Subclasses set `scope`.
    """

    scope = ""

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No rate for the throttle scope {self.scope!r}.")
        return rates[self.scope]

    def get_cache_key(self, request, view) -> str:
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def policy(self) -> str | None:
        """This limit as an item of `RateLimit-Policy`: quota and window in seconds."""
        if self.rate is None:
            return None
        return f'"{self.scope}";q={self.num_requests};w={self.duration}'

    def state(self) -> str | None:
        """What is left as an item of `RateLimit`: remaining requests, seconds until one more."""
        history = getattr(self, "history", None)
        if self.rate is None or history is None:
            return None
        remaining = max(self.num_requests - len(history), 0)
        reset = math.ceil(self.duration - (self.now - history[-1])) if history else 0
        return f'"{self.scope}";r={remaining};t={max(reset, 0)}'


class RateLimitedMixin:
    """Per-action rate limits for a DRF view, reported in the RateLimit headers.

    `rate_limits` maps an action (`create`) or a method (`post`) to PolicyThrottle classes; they
    apply on top of the view's other throttles. A refused request is a 429 with Retry-After.
    """

    rate_limits: dict[str, list[type[PolicyThrottle]]] = {}

    def get_throttles(self):
        handler = getattr(self, "action", None) or self.request.method.lower()
        self.rate_limit_throttles = [cls() for cls in self.rate_limits.get(handler, ())]
        return [*super().get_throttles(), *self.rate_limit_throttles]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        throttles = getattr(self, "rate_limit_throttles", ())
        policies = [p for p in (t.policy() for t in throttles) if p]
        states = [s for s in (t.state() for t in throttles) if s]
        if policies:
            response["RateLimit-Policy"] = ", ".join(policies)
        if states:
            response["RateLimit"] = ", ".join(states)
        return response


class PasswordCheckThrottle(PolicyThrottle):
    """Attempts at the caller's own password (password change, account deletion): a stolen
    access token must not become a way to guess the password."""

    scope = "password_check"
