"""The transactional outbox: events written in the same transaction as the change they describe."""

import uuid

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
    last_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["task", "created_at"],
                condition=Q(processed_at__isnull=True),
                name="outbox_pending",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(processed_at__isnull=True),
                name="outbox_pending_age",
            ),
            models.Index(
                fields=["processed_at"],
                condition=Q(processed_at__isnull=False),
                name="outbox_processed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.id}"

    @property
    def task_id(self) -> str:
        return str(self.id)
