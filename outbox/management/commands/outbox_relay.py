"""`manage.py outbox_relay`: resend outbox events that are not done (operators, after an outage)."""

from django.core.management.base import BaseCommand

from outbox.selectors import outbox_pending_count
from outbox.services import outbox_prune, outbox_relay


class Command(BaseCommand):
    help = "Publish again every outbox event still pending after the grace period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="Seconds an event may wait before it is resent (default: settings).",
        )
        parser.add_argument("--limit", type=int, default=10_000)
        parser.add_argument("--prune", action="store_true", help="Also delete old done events.")

    def handle(self, *args, grace, limit, prune, **options):
        sent = outbox_relay(grace_seconds=grace, limit=limit)
        self.stdout.write(f"relayed {sent} events; {outbox_pending_count()} still pending")
        if prune:
            self.stdout.write(f"pruned {outbox_prune()} done events")
