"""PostgreSQL advisory lock keys of this project: a namespace of its own, and a key per name."""

from __future__ import annotations

import zlib

# The first key of our advisory locks ("msgp"), so that they never meet another application's.
ADVISORY_NAMESPACE = 0x6D736770


def advisory_key(name: str) -> tuple[int, int]:
    """The (namespace, key) pair of the lock called `name`, in PostgreSQL's int4 range."""
    return ADVISORY_NAMESPACE, zlib.crc32(name.encode()) - 2**31
