"""Per-user cache of list responses, keyed by view, user and page, checked against versions.

A hit reads the version tokens (messaging/cache.py) and the stored body in one `get_many`, so it
is a single round trip to a shared cache and touches no database table.

The key holds only what changes the response (the cursor and the effective page size), so query
parameters a client adds or reorders cannot multiply the entries; a body over
LIST_CACHE_MAX_ENTRY_BYTES is served but not stored. The cache's memory is therefore bounded.
"""

from __future__ import annotations

import hashlib
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer

from core.caching import cache_is_per_process
from messaging.cache import (
    EPOCH_KEY,
    PREFIX,
    conversation_version_key,
    new_token,
    notifications_version_key,
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


def _canonical_query(view, request, params: tuple[str, ...]) -> str:
    """The query parameters that change the response, in a fixed order; the rest is ignored.

    The page size is the one the paginator will use, so `page_size=abc` and no page size share
    the entry of the default size.
    """
    values = {name: request.query_params.get(name, "") for name in params}
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        values["page_size"] = str(paginator.get_page_size(request))
    return urlencode(sorted(values.items()))


def _respond(body: bytes, outcome: str) -> HttpResponse:
    # Private to its user: messaging_app.middleware.PrivateAPIMiddleware marks every API answer.
    response = HttpResponse(body, content_type="application/json")
    response["X-Cache"] = outcome
    return response


def _store(key: str, tokens: list[str], body: bytes) -> None:
    """Keep the body unless it is over the cap (a huge page is served, just not kept).

    Stored with the tokens read before the query: a write that commits meanwhile changes a
    token, so this entry is never served for the newer state.
    """
    if len(body) <= settings.LIST_CACHE_MAX_ENTRY_BYTES:
        cache.set(key, (tokens, body), timeout=settings.MESSAGE_LIST_CACHE_TIMEOUT)


def _version_keys(user_id: int, scope: str, *, notifications: bool) -> list[str]:
    keys = [EPOCH_KEY, user_version_key(user_id)]
    if scope:
        keys.append(conversation_version_key(scope))
    if notifications:
        keys.append(notifications_version_key(user_id))
    return keys


def cached_list(
    view_name: str,
    *,
    conversation_kwarg: str | None = None,
    params: tuple[str, ...] = ("cursor",),
    notifications: bool = False,
):
    """Cache a DRF list action per user, for MESSAGE_LIST_CACHE_TIMEOUT seconds.

    Only authenticated JSON responses with status 200 are stored. A hit returns the stored bytes
    without touching the database (authentication has already happened in `initial()`).
    `params` names the query parameters that change the response besides the page size (a
    filter the view adds must be listed here). A list of `notifications` also depends on what
    the worker writes: it is cached only where the worker's invalidation reaches the web
    process (a shared cache), and served fresh (`X-Cache: BYPASS`) with a per-process cache.
    """

    def decorator(method):
        @wraps(method)
        def wrapper(self, request, *args, **kwargs):
            user = request.user
            if not user or not user.is_authenticated or request.accepted_renderer.format != "json":
                return method(self, request, *args, **kwargs)
            if notifications and cache_is_per_process():
                response = method(self, request, *args, **kwargs)
                response["X-Cache"] = "BYPASS"
                return response
            scope = str(kwargs[conversation_kwarg]) if conversation_kwarg else ""
            key = _entry_key(view_name, user.pk, scope, _canonical_query(self, request, params))
            tokens, body = _lookup(_version_keys(user.pk, scope, notifications=notifications), key)
            if body is not None:
                return _respond(body, "HIT")
            return _compute_and_store(method(self, request, *args, **kwargs), key, tokens)

        return wrapper

    return decorator


def _compute_and_store(response, key: str, tokens: list[str]) -> HttpResponse:
    if response.status_code != 200:
        return response
    body = JSONRenderer().render(response.data)
    _store(key, tokens, body)
    return _respond(body, "MISS")
