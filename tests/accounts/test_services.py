"""The write services of accounts/services.py, called as plain functions."""

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import User


def test_user_register_validates_the_password(db):
    with pytest.raises(ValidationError) as raised:
        services.user_register(username="eve", email="eve@example.com", password="123")
    assert "password" in raised.value.message_dict
    assert not User.objects.exists()
    user = services.user_register(
        username="eve", email="eve@example.com", password="a-long-unusual-passphrase-7"
    )
    assert user.check_password("a-long-unusual-passphrase-7")


def test_user_delete_removes_the_account_at_once(alice):
    alice_id = alice.pk
    services.user_delete(user=alice)
    assert not User.objects.filter(pk=alice_id).exists()
