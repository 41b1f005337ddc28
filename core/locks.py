"""PostgreSQL advisory lock keys of this project: a namespace of its own, and a key per name."""

from __future__ import annotations

import zlib

# The first key of our advisory locks ("msgp"), so that they never meet another application's.
ADVISORY_NAMESPACE = 0x6D736770


def advisory_key(name: str) -> tuple[int, int]:
    """The (namespace, key) pair of the lock called `name`, in PostgreSQL's int4 range."""
    return ADVISORY_NAMESPACE, zlib.crc32(name.encode()) - 2**31


def advisory_object_key(kind: str, object_id: int) -> int:
    """The bigint key of the lock of one object of a kind: the kind's CRC in the high bits, the
    id in the low ones. PostgreSQL keeps one-key and two-key advisory locks apart, so these never
    meet `advisory_key`'s; ids past 2**32 may share a key with another kind's, which only makes
    one wait for the other, never lets either through."""
    return ((zlib.crc32(kind.encode()) & 0x7FFFFFFF) << 32) ^ object_id
