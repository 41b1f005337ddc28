"""Bounds of the ids a client may send: database integer keys are signed 64-bit."""

MAX_ID = 2**63 - 1


def is_valid_id(value) -> bool:
    """Whether `value` is an integer id the database can hold (SQLite raises on a bigger one)."""
    try:
        return 0 < int(value) <= MAX_ID
    except (TypeError, ValueError):
        return False
