"""Reads of the outbox."""

from outbox.models import OutboxEvent


def outbox_pending_count() -> int:
    return OutboxEvent.objects.filter(processed_at__isnull=True).count()
