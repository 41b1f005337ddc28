"""Options every task of ours shares: retries with backoff and time limits.

Late acknowledgement and rejection on a lost worker are global settings (CELERY_TASK_ACKS_LATE,
CELERY_TASK_REJECT_ON_WORKER_LOST), so they hold for every task, ours or not.
"""

from django.db import IntegrityError, InterfaceError, OperationalError

# Failures worth retrying: the database went away or was locked for a moment, or a row the
# batch points at was purged meanwhile (the retry's fresh read leaves that row out).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, IntegrityError)

TASK_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 10,
    "soft_time_limit": 60,
    "time_limit": 90,
}
