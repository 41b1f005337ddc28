"""HTTP adapters of live delivery: the ticket endpoint (DRF) and the event stream (an async view,
served by an ASGI server: see README.md, "Live delivery")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from live import feed, services
from live.hub import Stream
from live.schema import TicketSerializer
from live.streaming import stream_events


class TicketView(APIView):
    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request):
        """A single-use ticket that opens one stream: `GET /api/events/?ticket=...` (for
        EventSource, which cannot send an Authorization header)."""
        stream_until = timezone.now() + timedelta(seconds=settings.LIVE_STREAM_MAX_SECONDS)
        if request.auth is not None and "exp" in request.auth:
            expiry = datetime.fromtimestamp(request.auth["exp"], tz=UTC)
            stream_until = min(stream_until, expiry)
        ticket, expires_at = services.live_ticket_issue(
            user_id=request.user.pk, stream_until=stream_until
        )
        body = {"ticket": ticket, "expires_at": expires_at, "stream_until": stream_until}
        return Response(TicketSerializer(body).data, status=status.HTTP_201_CREATED)


def _error(detail: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status_code)


def _authenticate(request: HttpRequest) -> tuple[int, float] | None:
    """(user id, wall-clock deadline) from a ticket or a Bearer token, or None (in a thread)."""
    close_old_connections()  # this thread's connection, if past DB_CONN_MAX_AGE or broken
    cap = time.time() + settings.LIVE_STREAM_MAX_SECONDS
    ticket = request.GET.get("ticket")
    if ticket:
        redeemed = services.live_ticket_redeem(ticket=ticket)
        if redeemed is None:
            return None
        user_id, stream_until = redeemed
        deadline = stream_until.timestamp()
    else:
        header = JWTAuthentication().get_header(request)
        raw = JWTAuthentication().get_raw_token(header) if header else None
        if raw is None:
            return None
        try:
            token = JWTAuthentication().get_validated_token(raw)
        except (InvalidToken, TokenError):
            return None
        user_id, deadline = (
            int(token[settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")]),
            token["exp"],
        )
    if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        return None
    return user_id, min(deadline, cap)


def _last_event_id(request: HttpRequest) -> int | None:
    """The header (a browser's own reconnect) or the query parameter; ValueError if not a seq."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if raw in (None, ""):
        return None
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


# Not a form target and changes nothing (GET only): CSRF does not apply, and any other method
# gets a JSON 405 rather than the CSRF failure page.
@csrf_exempt
async def events_stream(request: HttpRequest):
    """GET /api/events/: the caller's Server-Sent Events (documented by live/schema.py)."""
    if request.method not in ("GET", "HEAD"):
        response = _error(f'Method "{request.method}" not allowed.', 405)
        response["Allow"] = "GET, HEAD"
        return response
    if not isinstance(request, ASGIRequest):
        return _error("Event streams are served by the ASGI server (README: Live delivery).", 503)
    try:
        after = _last_event_id(request)
    except ValueError:
        return _error("Last-Event-ID must be a non-negative integer.", 400)
    authenticated = await sync_to_async(_authenticate, thread_sensitive=False)(request)
    if authenticated is None:
        return _error("A valid ticket or Bearer token is required.", 401)
    user_id, deadline = authenticated
    hub = feed.get_hub()
    stream = Stream(user_id, deadline, abort=request.scope.get("live.abort"))
    if not await feed.admit(hub, user_id, stream.conn_id):
        return _error("Too many open streams for this account.", 429)
    response = StreamingHttpResponse(
        stream_events(hub, stream, after), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
