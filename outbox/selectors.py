"""Reads of the outbox."""

from outbox.models import OutboxEvent


def outbox_pending_count() -> int:
    """Events not done yet, dead ones included."""
    return OutboxEvent.objects.filter(processed_at__isnull=True).count()


def outbox_dead_count() -> int:
    """Events the relay gave up on (see OutboxEvent.dead_at)."""
    return OutboxEvent.objects.filter(processed_at__isnull=True, dead_at__isnull=False).count()
