"""`Idempotency-Key` on the message POST endpoints: a retry gets the first answer, and the
message is sent once.

The first successful answer is stored in the same transaction as the message (one
IdempotencyRecord per user and key, unique), so a retry finds both or neither. Two concurrent
requests with one key: the second's insert fails on the unique constraint (on PostgreSQL it
waits for the first to commit), its whole transaction with its message rolls back, and it
answers with the first one's stored answer. The same key with another request (method, path or
body) is a 422. Answers are kept IDEMPOTENCY_KEY_HOURS (beat prunes them).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from messaging.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

SCHEMA_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description=(
        "Any unique string (a UUID): a retry with the same key within 24 h gets the first "
        "answer and sends nothing again; the same key with another body is a 422."
    ),
)
SCHEMA_422 = OpenApiResponse(
    inline_serializer("IdempotencyKeyReused", {"detail": serializers.CharField()}),
    description="This Idempotency-Key was used for a different request.",
)


class _Refused(Exception):
    """Rolls the transaction back and carries the (non-2xx) answer out."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _stored(user, key: str, fingerprint: str) -> Response | None:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    record = IdempotencyRecord.objects.filter(user=user, key=key, created_at__gte=cutoff).first()
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        return Response(
            {"detail": "This Idempotency-Key was used for a different request."}, status=422
        )
    return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def _first_answer(method, view, request, args, kwargs, key: str, fingerprint: str) -> Response:
    """Run the view and store its answer in one transaction; a non-2xx answer rolls back."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    with transaction.atomic():
        # An expired answer not yet pruned would hold the key's unique slot.
        IdempotencyRecord.objects.filter(user=request.user, key=key, created_at__lt=cutoff).delete()
        response = method(view, request, *args, **kwargs)
        if not 200 <= response.status_code < 300:
            raise _Refused(response)
        IdempotencyRecord.objects.create(
            user=request.user,
            key=key,
            fingerprint=fingerprint,
            status_code=response.status_code,
            body=response.data,
        )
    return response


def idempotent(method):
    """Decorate a DRF view method that creates something; see the module docstring."""

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            return Response(
                {"detail": f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters."}, status=400
            )
        fingerprint = _fingerprint(request)
        stored = _stored(request.user, key, fingerprint)
        if stored is not None:
            return stored
        try:
            return _first_answer(method, view, request, args, kwargs, key, fingerprint)
        except _Refused as refused:
            return refused.response
        except IntegrityError:
            stored = _stored(request.user, key, fingerprint)  # a concurrent duplicate won
            if stored is None:
                raise
            return stored

    return wrapper
