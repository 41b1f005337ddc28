"""POST /api/events/ticket/ and the schema of the stream (in-process; the stream itself runs
against a real server in test_stream.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateparse import parse_datetime
from rest_framework_simplejwt.tokens import AccessToken

from live.models import LiveTicket
from live.schema import EVENT_TYPES

pytestmark = pytest.mark.django_db


def test_a_ticket_needs_a_token_and_lives_no_longer_than_it(anon, alice, api_client_for):
    assert anon.post("/api/events/ticket/").status_code == 401
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=timedelta(minutes=3))
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/events/ticket/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_at", "stream_until"}
    assert parse_datetime(body["stream_until"]) <= datetime.fromtimestamp(token["exp"], tz=UTC)
    row = LiveTicket.objects.get()
    assert row.user_id == alice.pk and body["ticket"] not in row.digest


def test_the_schema_describes_the_stream_and_every_event_type(anon):
    schema = anon.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/events/"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    for kind, component, _, _ in EVENT_TYPES:
        assert f"`{kind}`" in operation["description"]
        assert component in schema["components"]["schemas"]
    ticket = schema["paths"]["/api/events/ticket/"]["post"]
    assert "201" in ticket["responses"]
    post = schema["paths"]["/api/messaging/messages/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert "422" in post["responses"]
