"""Per-user event logs (what each user's streams deliver and replay) and stream tickets.

Rows point at users without a database constraint, like messaging's: an account deletion must
stay one instant DELETE, and a deleted account's rows are removed by its purge.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


def _user_fk(related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
        db_index=False,
    )


class LiveCursor(models.Model):
    """The last seq given out in a user's event log.

    Allocating seqs updates this row, which stays locked until the transaction ends, so a user's
    events commit in seq order: a client that has seen seq N has seen every seq below N.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="+",
    )
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id} at {self.last_seq}"


class LiveEvent(models.Model):
    """One thing a user's clients should learn: `type` and a body shaped like the REST resource."""

    user = _user_fk("+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["user", "seq"]
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="liveevent_user_seq")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} for {self.user_id}"


class LiveTicket(models.Model):
    """A short-lived, single-use pass for opening one stream (EventSource cannot send headers).

    Only a hash of the ticket is stored. `stream_until` bounds the stream it opens: the expiry of
    the access token that asked for the ticket.
    """

    digest = models.CharField(max_length=64, primary_key=True)
    user = _user_fk("+")
    expires_at = models.DateTimeField(db_index=True)
    stream_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"ticket of {self.user_id}"
