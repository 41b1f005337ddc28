"""`manage.py outbox_relay`: resend outbox events that are not done (operators, after an outage)."""

from django.core.management.base import BaseCommand

from outbox.selectors import outbox_dead_count, outbox_pending_count
from outbox.services import outbox_prune, outbox_relay, outbox_retry_dead


class Command(BaseCommand):
    help = "Publish again every outbox event that is due (or, with --grace 0, every pending one)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="Seconds to wait before the next resend of what is sent now (default: settings).",
        )
        parser.add_argument("--limit", type=int, default=10_000)
        parser.add_argument(
            "--retry-dead",
            action="store_true",
            help="First revive the dead events (resent too often), so that they are sent now.",
        )
        parser.add_argument("--prune", action="store_true", help="Also delete old done events.")

    def handle(self, *args, grace, limit, retry_dead, prune, **options):
        if retry_dead:
            self.stdout.write(f"revived {outbox_retry_dead(limit=limit)} dead events")
        sent = outbox_relay(grace_seconds=grace, limit=limit)
        self.stdout.write(
            f"relayed {sent} events; {outbox_pending_count()} still pending, "
            f"{outbox_dead_count()} dead"
        )
        if prune:
            self.stdout.write(f"pruned {outbox_prune()} done events")
