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


@pytest.mark.parametrize("spelling", ["ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45"])
def test_a_username_differing_by_case_or_compatibility_form_is_taken(alice, spelling):
    with pytest.raises(ValidationError) as raised:
        services.user_register(
            username=spelling, email="x@example.com", password="a-long-unusual-passphrase-7"
        )
    assert "username" in raised.value.message_dict
    assert User.objects.count() == 1


def test_usernames_are_stored_in_nfkc(db):
    user = services.user_register(
        username="\uff24\uff41\uff4e\uff41", email="d@example.com", password="a-long-passphrase-7"
    )
    assert user.username == "Dana"


def test_the_database_refuses_a_username_differing_only_by_case(alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ALICE", email="a2@example.com")
