"""The JWTs of an account: a fresh pair, and revoking the refresh tokens issued before.

simplejwt's token blacklist app records every refresh token it issues (OutstandingToken);
a blacklisted one is refused by the refresh endpoint.
"""

from __future__ import annotations

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User


def token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def revoke_refresh_tokens(*, user: User) -> int:
    """Blacklist every refresh token of the user that is not yet; return how many."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    revoked = [BlacklistedToken(token=token) for token in outstanding.only("id")]
    BlacklistedToken.objects.bulk_create(revoked, ignore_conflicts=True)
    return len(revoked)
