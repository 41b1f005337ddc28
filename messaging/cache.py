"""Version tokens of the cached lists: writes replace the tokens of exactly what they change.

A cached list (messaging/list_cache.py) is stored with the version tokens of everything it
depends on: the user's own version, the conversation's version (for a conversation's list) and a
global epoch. A write that concerns a user replaces their version token (`bump_users`) after
commit, so their next request finds the stored tokens stale, misses and recomputes:
read-your-writes without touching anybody else's entries.

With LocMemCache each process has its own cache; use CACHE_URL=redis://... when several processes
serve the API or when the worker's invalidations must reach the web processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

PREFIX = "msglist"
EPOCH_KEY = f"{PREFIX}:epoch"


def user_version_key(user_id: int) -> str:
    return f"{PREFIX}:v:user:{user_id}"


def conversation_version_key(conversation_id: int) -> str:
    return f"{PREFIX}:v:conversation:{conversation_id}"


def notifications_version_key(user_id: int) -> str:
    """Changed by the worker when it creates the user's notifications (besides the user's own
    version, which every write that concerns them changes)."""
    return f"{PREFIX}:v:notifications:{user_id}"


def new_token() -> str:
    return uuid.uuid4().hex[:12]


def _bump(keys: list[str]) -> None:
    if keys:
        cache.set_many({key: new_token() for key in keys}, timeout=None)


def bump_users(user_ids: Iterable[int]) -> None:
    """After the current transaction commits, invalidate these users' cached lists."""
    keys = [user_version_key(uid) for uid in set(user_ids) if uid is not None]
    transaction.on_commit(lambda: _bump(keys))


def bump_notifications(user_ids: Iterable[int]) -> None:
    """After the current transaction commits, invalidate these users' notification lists."""
    keys = [notifications_version_key(uid) for uid in set(user_ids) if uid is not None]
    transaction.on_commit(lambda: _bump(keys))


def bump_conversation(conversation_id: int) -> None:
    keys = [conversation_version_key(conversation_id)]
    transaction.on_commit(lambda: _bump(keys))


def bump_all() -> None:
    """Invalidate every cached list (an account deletion changes what everybody may see)."""
    transaction.on_commit(lambda: _bump([EPOCH_KEY]))
