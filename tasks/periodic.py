"""One run at a time: a periodic task skips its run while another run of it holds its lock.

Beat must run exactly once, but a second beat started by mistake (a deploy that overlaps, a
second `make run`) would send every periodic task twice. Each of ours takes a lock first:
on PostgreSQL a session advisory lock (freed by the server when the holder's connection dies, so
a killed worker never leaves it behind), elsewhere the shared cache's `add` (Redis `SET NX EX`;
with LocMemCache it only holds within one process: SQLite setups are one machine with one beat).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection

from core.locks import advisory_key

logger = logging.getLogger(__name__)


@contextmanager
def _advisory_lock(name: str) -> Iterator[bool]:
    key = advisory_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


@contextmanager
def _cache_lock(name: str, seconds: int) -> Iterator[bool]:
    key, token = f"periodic-lock:{name}", uuid.uuid4().hex
    held = cache.add(key, token, timeout=seconds)
    try:
        yield held
    finally:
        if held and cache.get(key) == token:
            cache.delete(key)


@contextmanager
def run_alone(name: str, *, seconds: int) -> Iterator[bool]:
    """Yield True if this run holds the lock named `name`, False if another run holds it.

    `seconds` bounds the cache lock (at least the task's hard time limit, so that it outlives
    the run); the advisory lock needs no bound.
    """
    lock = _advisory_lock(name) if connection.vendor == "postgresql" else _cache_lock(name, seconds)
    with lock as held:
        if not held:
            logger.info("periodic lock %s: held by another run; this one skips", name)
            yield held
            return
        logger.info("periodic lock %s: taken", name)
        try:
            yield held
        finally:
            logger.info("periodic lock %s: released", name)
