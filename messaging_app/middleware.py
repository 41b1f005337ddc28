"""Guards of the whole site: oversized bodies, input nested too deeply to parse, and API answers
kept out of shared caches.

DRF's JSON parser streams the body and so bypasses DATA_UPLOAD_MAX_MEMORY_SIZE; the size check
does not depend on who reads the body.
"""

import logging

from django.conf import settings
from django.http import JsonResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

logger = logging.getLogger(__name__)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
        limit = settings.REQUEST_MAX_BODY_BYTES
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body too large (limit {limit} bytes)."},
                status=413,
            )
        return self.get_response(request)


class UnparsableInputMiddleware:
    """A 400 instead of a 500 when input is nested deeper than Python's recursion limit.

    The API's own parser (core/parsers.py) answers this itself; this covers what Django-level
    code parses, e.g. the JSON fields of admin forms (django-celery-beat's task arguments).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RecursionError):
            return None
        logger.warning("Refused input nested too deeply on %s %s", request.method, request.path)
        return JsonResponse({"detail": "JSON parse error - nested too deeply."}, status=400)


class PrivateAPIMiddleware:
    """Every answer under /api/ is for its caller only: `Cache-Control: private, no-cache` and
    `Vary: Authorization, Cookie`, so that no proxy or shared cache serves it to someone else.

    DRF's token and session authentication add no Vary of their own (PITFALLS.md, Caching).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            patch_cache_control(response, private=True, no_cache=True)
            patch_vary_headers(response, ("Authorization", "Cookie"))
        return response
