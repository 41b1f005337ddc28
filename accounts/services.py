"""Writes of accounts: registration, password change and deletion."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User


def user_register(*, username: str, email: str, password: str) -> User:
    """Create an account; a password the validators refuse is a ValidationError on `password`.

    The username is stored in NFKC form, and one that differs from an existing one only by case
    or Unicode compatibility form is taken (the database refuses it too, under a race).
    """
    if User.objects.same_username(username).exists():
        raise ValidationError({"username": ["A user with that username already exists."]})
    user = User(username=User.normalize_username(username), email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    return user


def user_password_change(*, user: User, old_password: str, new_password: str) -> None:
    """Replace the password, given the current one and a new one the validators accept.

    Every token issued before stops working: tokens carry a hash of the password they were
    issued under (SIMPLE_JWT CHECK_REVOKE_TOKEN), whoever changes it (API, admin, shell).
    """
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["Wrong password."]})
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])


def user_delete(*, user: User) -> None:
    """Delete the account at once. Its tokens stop working because the user no longer exists.

    Apps that keep data about the user react to `post_delete` in the same transaction (messaging
    schedules the purge of the user's messages there).
    """
    with transaction.atomic():
        user.delete()
