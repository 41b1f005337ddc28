"""JSON errors everywhere under /api/, including Django's own 400/404/500 pages."""

import re

from django.core.exceptions import ObjectDoesNotExist, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus JSON answers for what Django and the database raise.

    SuspiciousOperation (a body over the limit) is a 400; a service's ValidationError a 400
    with its messages; an object that vanished between the view's check and the write (a
    concurrent delete or purge) a 404; a write that lost such a race at commit a 409.
    """
    if isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Bad request.")
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, IntegrityError):
        exc = exceptions.APIException("The data changed while this request ran; try again.")
        exc.status_code = 409
    return drf_exception_handler(exc, context)


def bad_request(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception=None):
    return JsonResponse(
        {"detail": "You do not have permission to perform this action."}, status=403
    )


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)


# --- OpenAPI: the error answers every client must expect ------------------------------------

_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error. `detail` says what went wrong; a 400 for invalid input names the fields "
        "instead, each with a list of messages."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_BODY_METHODS = {"post", "put", "patch"}
# Pagination never answers 400: a bad page_size falls back to the default, a bad cursor is 404.
_PAGINATION_PARAMS = {"cursor", "page_size"}


def _is_throttled(callback, method: str) -> bool:
    """Whether the view throttles this method: all of its methods, or this action by
    `rate_limits` (core/throttling.py)."""
    view = getattr(callback, "cls", None)
    if view is None:
        return False
    if getattr(view, "throttle_scope", None) or view.throttle_classes:
        return True
    handler = (getattr(callback, "actions", None) or {}).get(method, method)
    return bool(getattr(view, "rate_limits", {}).get(handler))


def _shape(path: str) -> str:
    """The path with its parameters blanked: the schema renames `{pk}` to `{id}`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _throttled_operations(generator) -> set[tuple[str, str]]:
    return {
        (_shape(path), method.lower())
        for path, _regex, method, callback in getattr(generator, "endpoints", None) or []
        if _is_throttled(callback, method.lower())
    }


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the 4xx answers of each operation.

    The rules follow what the stack does, so that a client (and the Schemathesis test) can rely
    on the documented status codes: 400/413/415 where a body is read, 401/403 where credentials
    are required, 400 for query filters, 404 for paths with an id or a cursor, 429 where a
    throttle applies.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    throttled = _throttled_operations(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            security = operation.get("security")
            anonymous_ok = security is not None and {} in security
            query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            codes = {}
            if method in _BODY_METHODS:
                codes["400"] = "Invalid input."
                codes["413"] = "Request body too large."
            elif query - _PAGINATION_PARAMS:
                codes["400"] = "Invalid query parameters."
            if "requestBody" in operation:
                codes["415"] = "Unsupported media type."
            if not anonymous_ok:
                codes["401"] = "Missing, invalid or expired credentials."
            if security and not anonymous_ok:
                codes["403"] = "Authenticated, but not allowed to do this."
            if "{" in path or "cursor" in query:
                codes["404"] = "No such object visible to the caller, or an invalid cursor."
            if (_shape(path), method) in throttled:
                codes["429"] = "Too many requests: see the Retry-After header."
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                responses.setdefault(code, {"description": description, "content": ref})
            operation["responses"] = dict(sorted(responses.items()))
    return result
