"""Worker plumbing: reconnect to the broker within a second, and relay the outbox on connect.

Celery's consumer retries a lost broker connection after 2, 4, 6, ... up to 30 seconds, so after
an outage a worker could sit idle for half a minute with the broker back. It retries every
`WORKER_RECONNECT_INTERVAL` seconds instead (settings: CELERY_WORKER_CONSUMER), and every time it
(re)connects it sends the `outbox_relay` task, which resends the events that became due while the
broker was away (published to a broker that lost them, or kept by a process that died since).
The web processes resend what they could not publish by themselves (outbox/services.py).
"""

from __future__ import annotations

import functools
import logging

from celery import bootsteps
from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)

WORKER_RECONNECT_INTERVAL = 1.0


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(
            conn.ensure_connection,
            interval_start=0,
            interval_step=WORKER_RECONNECT_INTERVAL,
            interval_max=WORKER_RECONNECT_INTERVAL,
        )
        return super().ensure_connected(conn)


class RelayOnConnect(bootsteps.StartStopStep):
    """A consumer step: it starts each time the consumer has a broker connection again."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer) -> None:
        from outbox.services import outbox_forget_queued

        outbox_forget_queued()  # the tasks coalesced under them may have died with the broker
        try:
            consumer.app.send_task("outbox_relay", retry=False)
        except Exception as exc:  # the broker went away again: the next connect tries again
            logger.warning("outbox: could not send the relay on connect (%s)", exc)
