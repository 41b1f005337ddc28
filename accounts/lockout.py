"""The account a login attempt names, as django-axes counts failures per account."""

from __future__ import annotations

from accounts.models import User


def login_username(request, credentials: dict | None = None) -> str | None:
    """The submitted username in the form two spellings of one account share.

    NFKC (as Django normalizes usernames) and lower case: "Alice", "alice" and the fullwidth
    form of either are one account, so guesses spread over spellings count against it together.
    """
    username = (credentials or {}).get(User.USERNAME_FIELD)
    if username is None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        username = data.get(User.USERNAME_FIELD) if hasattr(data, "get") else None
    if not isinstance(username, str):
        return None
    return User.normalize_username(username).lower()
