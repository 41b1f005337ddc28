"""Reads of the event logs: what a stream replays, and how far each user's log has got."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from live.models import LiveCursor, LiveEvent


def live_events_after(*, user_id: int, after: int, limit: int) -> list[tuple[int, str, dict]]:
    """(seq, type, data) of the user's events with seq > after, oldest first, at most `limit`,
    and only those inside the replay window (LIVE_RETENTION_HOURS)."""
    since = timezone.now() - timedelta(hours=settings.LIVE_RETENTION_HOURS)
    return list(
        LiveEvent.objects.filter(user_id=user_id, seq__gt=after, created_at__gte=since)
        .order_by("seq")
        .values_list("seq", "type", "data")[:limit]
    )


def live_last_seq(*, user_id: int) -> int:
    return (
        LiveCursor.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first() or 0
    )


def live_last_seqs(*, user_ids) -> dict[int, int]:
    """The last committed seq of each of these users (users with no events are left out)."""
    return dict(
        LiveCursor.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "last_seq")
    )
