"""The concurrent writer of section 5, run in a process of its own (spawned).

In its own process it has its own interpreter lock and database connection, as another web
process would: a thread in the bench process would instead slow down the very API call it is
meant to watch. It posts direct messages through the API until told to stop, and sends back
(start time, seconds) of every post.

This module imports nothing from Django at load time: the spawned process sets Django up first.
"""

from __future__ import annotations

import time


def main(sender_id: int, receiver_id: int, stop, out) -> None:
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from testkit import client_for

    samples: list[tuple[float, float]] = []
    failures: list[str] = []
    try:
        client = client_for(User.objects.get(pk=sender_id))
        body = {"receiver": receiver_id, "content": "still here"}
        client.post("/api/messaging/messages/", body, format="json")  # warm-up
        out.put("ready")
        while not stop.is_set():
            started = time.time()
            response = client.post("/api/messaging/messages/", body, format="json")
            samples.append((started, time.time() - started))
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.content[:100]!r}")
            time.sleep(0.002)  # a busy user, not a load generator
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
        out.put("ready")
    finally:
        connection.close()
        out.put((samples, failures))
