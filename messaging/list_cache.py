"""Per-user cache of list responses, keyed by view, user and query, checked against versions.

A hit reads the version tokens (messaging/cache.py) and the stored body in one `get_many`, so it
is a single round trip to a shared cache and touches no database table.
"""

from __future__ import annotations

import hashlib
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from rest_framework.renderers import JSONRenderer

from messaging.cache import (
    EPOCH_KEY,
    PREFIX,
    conversation_version_key,
    new_token,
    user_version_key,
)


def _lookup(version_keys: list[str], entry_key: str) -> tuple[list[str], bytes | None]:
    """The current version tokens and the stored body if it was made under them.

    One `get_many` for both, so a hit is a single round trip to a shared cache.
    """
    found = cache.get_many([*version_keys, entry_key])
    missing = [k for k in version_keys if k not in found]
    for key in missing:
        # A fresh random token, never a default: an evicted version must not revive old entries.
        cache.add(key, new_token(), timeout=None)
    if missing:
        found.update(cache.get_many(missing))
    tokens = [str(found.get(k, "")) for k in version_keys]
    entry = found.get(entry_key)
    if entry is not None and not missing and entry[0] == tokens:
        return tokens, entry[1]
    return tokens, None


def _entry_key(view_name: str, user_id: int, scope: str, query: str) -> str:
    query_hash = hashlib.sha256(query.encode()).hexdigest()[:32]
    return f"{PREFIX}:resp:{view_name}:{user_id}:{scope}:{query_hash}"


def _private(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response


def cached_list(view_name: str, *, conversation_kwarg: str | None = None):
    """Cache a DRF list action per user, for MESSAGE_LIST_CACHE_TIMEOUT seconds.

    Only authenticated JSON responses with status 200 are stored. A hit returns the stored bytes
    without touching the database (authentication has already happened in `initial()`).
    """

    def decorator(method):
        @wraps(method)
        def wrapper(self, request, *args, **kwargs):
            user = request.user
            if not user or not user.is_authenticated or request.accepted_renderer.format != "json":
                return method(self, request, *args, **kwargs)
            version_keys = [EPOCH_KEY, user_version_key(user.pk)]
            scope = ""
            if conversation_kwarg:
                scope = str(kwargs[conversation_kwarg])
                version_keys.append(conversation_version_key(scope))
            key = _entry_key(view_name, user.pk, scope, request.META.get("QUERY_STRING", ""))
            tokens, body = _lookup(version_keys, key)
            if body is not None:
                response = HttpResponse(body, content_type="application/json")
                response["X-Cache"] = "HIT"
                return _private(response)
            response = method(self, request, *args, **kwargs)
            if response.status_code != 200:
                return response
            body = JSONRenderer().render(response.data)
            # Stored with the tokens read before the query: a write that commits meanwhile
            # changes a token, so this entry is never served for the newer state.
            cache.set(key, (tokens, body), timeout=settings.MESSAGE_LIST_CACHE_TIMEOUT)
            fresh = HttpResponse(body, content_type="application/json")
            fresh["X-Cache"] = "MISS"
            return _private(fresh)

        return wrapper

    return decorator
