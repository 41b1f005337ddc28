"""Per-user cache of message list responses, invalidated by versions instead of deletes.

A cached list lives under a key made of the view, the user and the query string, stored together
with the version tokens of everything the list depends on: the user's own version, the
conversation's version (for a conversation's list) and a global epoch. A write that concerns a
user replaces their version token (`bump_users`), so their next request finds the stored tokens
stale, misses and recomputes: read-your-writes without touching anybody else's entries. A hit
reads the tokens and the entry in one `get_many`.

With LocMemCache each process has its own cache; use CACHE_URL=redis://... when several processes
serve the API or when the worker's invalidations must reach the web processes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from rest_framework.renderers import JSONRenderer

PREFIX = "msglist"
EPOCH_KEY = f"{PREFIX}:epoch"


def user_version_key(user_id: int) -> str:
    return f"{PREFIX}:v:user:{user_id}"


def conversation_version_key(conversation_id: int) -> str:
    return f"{PREFIX}:v:conversation:{conversation_id}"


def _new_token() -> str:
    return uuid.uuid4().hex[:12]


def _bump(keys: list[str]) -> None:
    if keys:
        cache.set_many({key: _new_token() for key in keys}, timeout=None)


def bump_users(user_ids: Iterable[int]) -> None:
    """After the current transaction commits, invalidate these users' cached lists."""
    keys = [user_version_key(uid) for uid in set(user_ids) if uid is not None]
    transaction.on_commit(lambda: _bump(keys))


def bump_conversation(conversation_id: int) -> None:
    keys = [conversation_version_key(conversation_id)]
    transaction.on_commit(lambda: _bump(keys))


def bump_all() -> None:
    """Invalidate every cached list (an account deletion changes what everybody may see)."""
    transaction.on_commit(lambda: _bump([EPOCH_KEY]))


def _lookup(version_keys: list[str], entry_key: str) -> tuple[list[str], bytes | None]:
    """The current version tokens and the stored body if it was made under them.

    One `get_many` for both, so a hit is a single round trip to a shared cache.
    """
    found = cache.get_many([*version_keys, entry_key])
    missing = [k for k in version_keys if k not in found]
    for key in missing:
        # A fresh random token, never a default: an evicted version must not revive old entries.
        cache.add(key, _new_token(), timeout=None)
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
