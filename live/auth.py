"""Who opens a stream, and until when: a single-use ticket or a Bearer access token.

Runs in a worker thread (it reads the database); the stream endpoint (live/asgi.py) calls it
with the raw query parameter and header, as it has no Django request.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPE_BYTES, JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from live import services


def _from_ticket(ticket: str) -> tuple[int, float] | None:
    redeemed = services.live_ticket_redeem(ticket=ticket)
    if redeemed is None:
        return None
    user_id, stream_until = redeemed
    return user_id, stream_until.timestamp()


def _from_bearer(authorization: bytes) -> tuple[int, float] | None:
    """The token's user and expiry, checked as the REST API checks it: signature, expiry, an
    active account, and the password the token was issued under (CHECK_REVOKE_TOKEN: a password
    change revokes it)."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0] not in AUTH_HEADER_TYPE_BYTES:
        return None
    try:
        token = AccessToken(parts[1].decode())
        user = JWTAuthentication().get_user(token)
    except (InvalidToken, TokenError, AuthenticationFailed, UnicodeDecodeError):
        return None
    return user.pk, float(token["exp"])


def stream_authenticate(
    ticket: str | None, authorization: bytes | None
) -> tuple[int, float] | None:
    """(user id, wall-clock deadline) of a valid ticket (used up) or access token, whose account
    is active; None otherwise. The deadline is the ticket's stream limit or the token's expiry,
    and at most LIVE_STREAM_MAX_SECONDS away."""
    close_old_connections()  # this thread's connection, if past DB_CONN_MAX_AGE or broken
    if ticket:
        found = _from_ticket(ticket)
    elif authorization:
        found = _from_bearer(authorization)
    else:
        found = None
    if found is None:
        return None
    user_id, deadline = found
    if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        return None
    return user_id, min(deadline, time.time() + settings.LIVE_STREAM_MAX_SECONDS)
