"""Section 3: the time of a message POST, our pipeline vs the naive design, interleaved.

Ours: the request writes the message and one outbox event in one transaction and, after commit,
publishes one task to the real broker (CELERY_BROKER_URL); the worker creates the notifications
later (section 4 measures that work). No worker runs here: its cost is deferred, not free.

Naive, the original project's design: a post_save receiver creates the notifications inside the
request with `Notification.objects.create(...)`, one per recipient, and there is no outbox. For
that measurement our outbox receiver is disconnected and the naive one connected; everything
else (view, serializer, cache invalidation) is the same code. A stronger naive receiver that
bulk-inserts the rows is measured too, for information: it is not what the original did.

Rounds alternate the order of the designs; the figures are ratios of medians.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db.models.signals import post_save

from bench import data
from bench.harness import Results, Sizes, median, ms, purge_queue, section_header
from chats.models import Conversation
from messaging import signals
from messaging.models import Message, Notification
from outbox.models import OutboxEvent
from testkit import client_for

SECTION = "3 write path"
OURS_UID = "messaging.message_created"
NAIVE_UID = "bench.naive_notifications"


def _recipient_ids(message: Message) -> list[int]:
    if message.conversation_id is None:
        return [message.receiver_id]
    ids = Conversation.participants.through.objects.filter(
        conversation_id=message.conversation_id
    ).values_list("user_id", flat=True)
    return [uid for uid in ids if uid != message.sender_id]


def naive_receiver(sender, instance: Message, created: bool, raw: bool = False, **kwargs) -> None:
    """The original design: notifications written by the request, one create() per recipient."""
    if created and not raw:
        for user_id in _recipient_ids(instance):
            Notification.objects.create(user_id=user_id, message=instance)


def naive_bulk_receiver(sender, instance: Message, created: bool, raw=False, **kwargs) -> None:
    """A stronger naive design: the same rows in one INSERT."""
    if created and not raw:
        Notification.objects.bulk_create(
            Notification(user_id=uid, message=instance) for uid in _recipient_ids(instance)
        )


@contextmanager
def receiver_design(receiver: Callable | None) -> Iterator[None]:
    """Swap our outbox receiver for `receiver` (None: keep ours) for the duration."""
    if receiver is None:
        yield
        return
    post_save.disconnect(sender=Message, dispatch_uid=OURS_UID)
    post_save.connect(receiver, sender=Message, dispatch_uid=NAIVE_UID, weak=False)
    try:
        yield
    finally:
        post_save.disconnect(sender=Message, dispatch_uid=NAIVE_UID)
        post_save.connect(signals.message_created, sender=Message, dispatch_uid=OURS_UID)


DESIGNS: dict[str, Callable | None] = {
    "ours": None,
    "naive": naive_receiver,
    "naive bulk": naive_bulk_receiver,
}


def _post(client, url: str, body: dict, design: str) -> float:
    with receiver_design(DESIGNS[design]):
        started = time.perf_counter()
        response = client.post(url, body, format="json")
        elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise AssertionError(f"POST {url} ({design}): {response.status_code} {response.content!r}")
    return elapsed


def _check_designs(direct_url: str, client, receiver_id: int) -> None:
    """Prove each design does what it claims: notifications in the request, or an event."""
    before_events = OutboxEvent.objects.count()
    for design, expect_notification in (("ours", False), ("naive", True), ("naive bulk", True)):
        _post(client, direct_url, {"receiver": receiver_id, "content": design}, design)
        message = Message.objects.order_by("-id").first()
        has = Notification.objects.filter(message=message).exists()
        if has != expect_notification:
            raise AssertionError(f"{design}: notification in request = {has}")
    if OutboxEvent.objects.count() != before_events + 1:
        raise AssertionError("the naive designs must not write outbox events")


def _time_designs(client, cases: dict, rounds: int) -> dict[tuple[str, str], list[float]]:
    """POST each case with each design, interleaved, alternating the order; 3 warm-up rounds."""
    times: dict[tuple[str, str], list[float]] = {
        (case, design): [] for case in cases for design in DESIGNS
    }
    order = list(DESIGNS)
    for r in range(rounds + 3):
        for case, (url, body) in cases.items():
            for design in order if r % 2 == 0 else reversed(order):
                elapsed = _post(client, url, body, design)
                if r >= 3:
                    times[(case, design)].append(elapsed)
    return times


def _record(results: Results, cases: dict, times: dict) -> None:
    for case in cases:
        ours, naive, bulk = (median(times[(case, d)]) for d in DESIGNS)
        results.add(SECTION, f"{case}: ours (median)", ms(ours), "ms")
        results.add(SECTION, f"{case}: naive, create() per recipient (median)", ms(naive), "ms")
        results.add(SECTION, f"{case}: naive, one bulk insert (median)", ms(bulk), "ms")
        bound = 1.1 if case == "direct" else 0.3
        results.add(SECTION, f"{case}: ours / naive", ours / naive, target=("<=", bound))
        results.add(SECTION, f"{case}: ours / naive bulk (information)", ours / bulk)


def run(results: Results, sizes: Sizes) -> None:
    n = sizes.group_participants
    section_header(
        f"3. Write path: POST, ours vs naive ({sizes.write_rounds} interleaved rounds; "
        f"group of {n})"
    )
    sender, receiver, *others = data.make_users(n + 1, "w")
    group = data.make_conversation([sender, *others[: n - 1]])
    if group.participants.count() != n:
        raise AssertionError("the group does not have the intended size")
    client = client_for(sender)
    direct_url = "/api/messaging/messages/"
    _check_designs(direct_url, client, receiver.pk)
    cases = {
        "direct": (direct_url, {"receiver": receiver.pk, "content": "hello"}),
        f"{n} participants": (f"/api/conversations/{group.pk}/messages/", {"content": "hello all"}),
    }
    times = _time_designs(client, cases, sizes.write_rounds)
    group_notifications = Notification.objects.filter(message__conversation=group).count()
    purge_queue()  # the tasks our design published; no worker runs in this section
    _record(results, cases, times)
    expected = 2 * (sizes.write_rounds + 3) * (n - 1)
    if group_notifications != expected:
        raise AssertionError(f"naive group posts made {group_notifications} rows, not {expected}")
