"""HTTP adapters of live delivery: the ticket endpoint (DRF), and the stream's URL as Django sees
it (the stream is served by live/asgi.py: see README.md, "Live delivery")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from live import services
from live.schema import TicketSerializer


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


# The stream itself is served in front of Django (live/asgi.py, by the project's ASGI application):
# this view answers only when a request for it reaches Django's handler, which under WSGI would
# pin a worker for as long as the stream lasted. CSRF does not apply (it changes nothing).
@csrf_exempt
def events_stream(request: HttpRequest) -> JsonResponse:
    """GET /api/events/ outside the ASGI application: a 503 that says where streams are."""
    detail = "Event streams are served by the ASGI application (messaging_app.asgi), not here."
    return JsonResponse({"detail": detail}, status=503)
