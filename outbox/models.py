"""The transactional outbox: events written in the same transaction as the change they describe."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """A side effect still owed. Its id is also the id of the Celery task that carries it.

    `task` names the Celery task that does the work; the outbox knows nothing else about it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.CharField(max_length=100)
    payload = models.JSONField()
    # A lookup handle, e.g. "user:42" for the purge of that account.
    key = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the relay may send it (again): the grace period after creation, at once after a
    # failed publish, then backing off after each resend (outbox/services.py).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # How often the relay has resent it; at OUTBOX_MAX_ATTEMPTS the event is dead.
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Set when it was resent OUTBOX_MAX_ATTEMPTS times and never done: the relay leaves it,
    # the admin, /api/tasks/stats/ and /api/health/ show it, `outbox_relay --retry-dead` revives it.
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["task", "created_at"],
                condition=Q(processed_at__isnull=True),
                name="outbox_pending",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(processed_at__isnull=True, dead_at__isnull=True),
                name="outbox_due",
            ),
            models.Index(
                fields=["dead_at"],
                condition=Q(processed_at__isnull=True, dead_at__isnull=False),
                name="outbox_dead",
            ),
            models.Index(
                fields=["processed_at"],
                condition=Q(processed_at__isnull=False),
                name="outbox_processed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.id}"

    def save(self, *args, **kwargs) -> None:
        self.set_first_attempt()
        super().save(*args, **kwargs)

    def set_first_attempt(self) -> None:
        """Unless set, due for the relay once the grace period after creation is over."""
        if self.next_attempt_at is None:
            grace = timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
            self.next_attempt_at = self.created_at + grace

    @property
    def task_id(self) -> str:
        return str(self.id)
