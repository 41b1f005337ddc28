"""Options every task of ours shares: late acks, retries with backoff, time limits."""

from django.db import IntegrityError, InterfaceError, OperationalError

# Failures worth retrying: the database went away or was locked for a moment, or a row the
# batch points at was purged meanwhile (the retry's fresh read leaves that row out).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, IntegrityError)

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 10,
    "soft_time_limit": 60,
    "time_limit": 90,
}
