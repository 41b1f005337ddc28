"""Registration, JWT tokens and /api/auth/me/."""

import pytest
from django.urls import reverse

from accounts.models import User
from testkit import client_for

pytestmark = pytest.mark.django_db

REGISTER = reverse("register")
TOKEN = reverse("token")
REFRESH = reverse("token-refresh")
ME = reverse("me")
GOOD_PASSWORD = "a-long-and-unusual-passphrase-42"


def register(client, **overrides):
    body = {"username": "dana", "password": GOOD_PASSWORD, "email": "dana@example.com"}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    return client.post(REGISTER, body, format="json")


# --- Register -------------------------------------------------------------------------------


def test_register_creates_the_account(anon):
    response = register(anon)

    assert response.status_code == 201
    user = User.objects.get(username="dana")
    assert response.json() == {"id": user.pk, "username": "dana"}
    assert user.email == "dana@example.com"
    assert user.check_password(GOOD_PASSWORD)
    assert user.password != GOOD_PASSWORD
    assert not user.is_staff
    assert not user.is_superuser


def test_register_ignores_privilege_fields(anon):
    response = register(anon, is_staff=True, is_superuser=True, id=4242)
    assert response.status_code == 201
    user = User.objects.get(username="dana")
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert user.pk != 4242


@pytest.mark.parametrize(
    "password",
    [
        "short1!",  # too short
        "password123",  # too common
        "1234567890123",  # entirely numeric
        "dana@example.com",  # too similar to the email
    ],
)
def test_register_applies_django_password_validators(anon, password):
    response = register(anon, password=password)
    assert response.status_code == 400
    assert "password" in response.json()
    assert response.json()["password"]
    assert not User.objects.filter(username="dana").exists()


def test_register_duplicate_username_is_400(anon, make_user):
    make_user("dana")
    response = register(anon, email="other@example.com")
    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.filter(username="dana").count() == 1


@pytest.mark.parametrize("spelling", ["DANA", "Dana", "\uff44\uff41\uff4e\uff41"])
def test_register_a_username_taken_in_another_case_or_form_is_400(anon, make_user, spelling):
    make_user("dana")
    response = register(anon, username=spelling, email="other@example.com")
    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.count() == 1


@pytest.mark.parametrize("spelling", ["ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45"])
def test_login_with_another_case_or_form_of_the_username(anon, alice, spelling):
    response = anon.post(
        TOKEN, {"username": spelling, "password": "correct-horse-battery-staple"}, format="json"
    )
    assert response.status_code == 200, response.content
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert client.get(ME).json()["id"] == alice.pk


@pytest.mark.parametrize("missing", ["username", "password", "email"])
def test_register_missing_field_is_400(anon, missing):
    body = {"username": "dana", "password": GOOD_PASSWORD, "email": "dana@example.com"}
    del body[missing]
    response = anon.post(REGISTER, body, format="json")
    assert response.status_code == 400
    assert missing in response.json()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "has spaces"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"password": ""}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"username": ["dana"]}, "username"),
    ],
)
def test_register_invalid_field_is_400(anon, overrides, field):
    response = register(anon, **overrides)
    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


@pytest.mark.parametrize("raw", [b'{"username": "dana"', b"[]", b"null", b"\xff"])
def test_register_malformed_json_is_400(anon, raw):
    response = anon.generic("POST", REGISTER, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()
    assert not User.objects.exists()


def test_registered_user_can_log_in_and_see_themselves(anon):
    user_id = register(anon).json()["id"]
    tokens = anon.post(TOKEN, {"username": "dana", "password": GOOD_PASSWORD}, format="json")
    assert tokens.status_code == 200
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    assert client.get(ME).json() == {"id": user_id, "username": "dana", "email": "dana@example.com"}


# --- Tokens ---------------------------------------------------------------------------------


def test_token_obtain_and_refresh(anon, alice):
    response = anon.post(
        TOKEN, {"username": "alice", "password": "correct-horse-battery-staple"}, format="json"
    )
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) >= {"access", "refresh"}

    refreshed = anon.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200
    access = refreshed.json()["access"]

    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get(ME).json()["username"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong-password"},
        {"username": "nobody", "password": "correct-horse-battery-staple"},
    ],
)
def test_token_with_bad_credentials_is_401(anon, alice, body):
    response = anon.post(TOKEN, body, format="json")
    assert response.status_code == 401
    assert "access" not in response.json()


def test_token_for_an_inactive_user_is_401(anon, make_user):
    make_user("sleepy", is_active=False)
    response = anon.post(
        TOKEN, {"username": "sleepy", "password": "correct-horse-battery-staple"}, format="json"
    )
    assert response.status_code == 401


def test_token_with_missing_fields_is_400(anon):
    response = anon.post(TOKEN, {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


@pytest.mark.parametrize("refresh", ["garbage", ""])
def test_refresh_with_an_invalid_token_is_rejected(anon, refresh):
    response = anon.post(REFRESH, {"refresh": refresh}, format="json")
    assert response.status_code in (400, 401)
    assert "access" not in response.json()


def test_an_access_token_is_not_a_refresh_token(anon, alice):
    pair = anon.post(
        TOKEN, {"username": "alice", "password": "correct-horse-battery-staple"}, format="json"
    ).json()
    response = anon.post(REFRESH, {"refresh": pair["access"]}, format="json")
    assert response.status_code == 401


# --- Me -------------------------------------------------------------------------------------


def test_me(alice):
    response = client_for(alice).get(ME)
    assert response.status_code == 200
    assert response.json() == {"id": alice.pk, "username": "alice", "email": "alice@example.com"}


def test_me_anonymous_is_401(anon):
    response = anon.get(ME)
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer ", "Basic YWxpY2U6eA==", "Token x"])
def test_me_with_a_bad_authorization_header_is_401(alice, header):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(ME).status_code == 401


def test_token_of_a_deleted_user_is_401(alice):
    client = client_for(alice)
    alice.delete()
    assert client.get(ME).status_code == 401


# --- Password change, logout, revocation ----------------------------------------------------

PASSWORD = reverse("password")
LOGOUT = reverse("logout")
OLD = "correct-horse-battery-staple"  # what make_user sets
NEW = "an-entirely-new-passphrase-77"


def login(username: str, password: str) -> dict:
    response = client_for(None).post(
        TOKEN, {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_password_change_revokes_every_earlier_token(alice):
    first, second = login("alice", OLD), login("alice", OLD)  # two devices
    response = bearer(first["access"]).post(
        PASSWORD, {"old_password": OLD, "new_password": NEW}, format="json"
    )
    assert response.status_code == 200, response.content
    fresh = response.json()
    for pair in (first, second):
        assert bearer(pair["access"]).get(ME).status_code == 401
        refreshed = client_for(None).post(REFRESH, {"refresh": pair["refresh"]}, format="json")
        assert refreshed.status_code == 401
        assert "access" not in refreshed.json()
    # The answer carries a new pair, and the new password logs in.
    assert bearer(fresh["access"]).get(ME).status_code == 200
    assert (
        client_for(None).post(REFRESH, {"refresh": fresh["refresh"]}, format="json").status_code
        == 200
    )
    assert bearer(login("alice", NEW)["access"]).get(ME).status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_a_password_set_elsewhere_revokes_the_tokens_too(alice):
    """The admin, `manage.py changepassword` or the shell: tokens carry a hash of the password."""
    pair = login("alice", OLD)
    alice.set_password(NEW)
    alice.save()
    assert bearer(pair["access"]).get(ME).status_code == 401
    assert (
        client_for(None).post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code
        == 401
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"old_password": "wrong", "new_password": NEW}, "old_password"),
        ({"new_password": NEW}, "old_password"),
        ({"old_password": OLD}, "new_password"),
        ({"old_password": OLD, "new_password": "short"}, "new_password"),
        ({"old_password": OLD, "new_password": "password123"}, "new_password"),
        ({"old_password": OLD, "new_password": "alice@example.com"}, "new_password"),
    ],
)
def test_password_change_needs_the_old_password_and_a_valid_new_one(alice, body, field):
    pair = login("alice", OLD)
    response = bearer(pair["access"]).post(PASSWORD, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    alice.refresh_from_db()
    assert alice.check_password(OLD)
    assert bearer(pair["access"]).get(ME).status_code == 200  # nothing was revoked


def test_password_change_needs_a_login(anon):
    response = anon.post(PASSWORD, {"old_password": OLD, "new_password": NEW}, format="json")
    assert response.status_code == 401


def test_logout_blacklists_the_refresh_token(alice):
    pair = login("alice", OLD)
    assert (
        client_for(None).post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code
        == 204
    )
    refreshed = client_for(None).post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401
    # Logging out again, or with garbage, is refused; another session is untouched.
    again = client_for(None).post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert client_for(None).post(LOGOUT, {"refresh": "garbage"}, format="json").status_code == 401
    other = login("alice", OLD)
    assert (
        client_for(None).post(REFRESH, {"refresh": other["refresh"]}, format="json").status_code
        == 200
    )
