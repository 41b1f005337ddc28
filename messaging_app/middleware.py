"""Refuse oversized request bodies before anything reads them.

DRF's JSON parser streams the body and so bypasses DATA_UPLOAD_MAX_MEMORY_SIZE; this check does
not depend on who reads the body.
"""

from django.conf import settings
from django.http import JsonResponse


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
