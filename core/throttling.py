"""Who a request comes from, and the answers of throttles and login lockouts.

Throttles (DRF) and login lockouts (django-axes) take the client's address from one rule:
`client_address`, DRF's own with the NUM_PROXIES setting.
"""

from __future__ import annotations

import ipaddress

from axes.helpers import get_cool_off
from django.http import JsonResponse
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

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
