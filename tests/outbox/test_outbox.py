"""The outbox: events drained once in batches, resent by the relay when stuck, pruned when old."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from messaging import services
from messaging.models import Notification
from outbox import services as outbox
from outbox.models import OutboxEvent


def _events(n: int, **fields) -> list[OutboxEvent]:
    return [
        OutboxEvent.objects.create(
            task="notification_create_for_messages", payload={"i": i}, **fields
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_drain_takes_the_named_event_first_then_the_oldest(settings):
    events = _events(5)
    seen: list[list[str]] = []
    taken = outbox.outbox_drain(
        task="notification_create_for_messages",
        first_id=str(events[3].pk),
        handler=lambda batch: seen.append([e.payload["i"] for e in batch]),
        batch_size=3,
    )
    assert taken == 3
    assert seen == [[3, 0, 1]]
    pending = OutboxEvent.objects.filter(processed_at__isnull=True)
    assert sorted(e.payload["i"] for e in pending) == [2, 4]


@pytest.mark.django_db
def test_a_failing_handler_leaves_every_event_pending():
    _events(3)

    def boom(batch):
        raise RuntimeError("worker crashed mid-batch")

    with pytest.raises(RuntimeError):
        outbox.outbox_drain(task="notification_create_for_messages", first_id=None, handler=boom)
    assert OutboxEvent.objects.filter(processed_at__isnull=True).count() == 3


@pytest.mark.django_db
def test_drain_redacts_payloads_as_it_marks_events_processed():
    """What the task's `redact` leaves of a payload is all a processed event keeps."""
    events = [
        OutboxEvent.objects.create(task="message_history_archive", payload={"i": i, "text": "x"})
        for i in range(3)
    ]
    seen = []
    outbox.outbox_drain(
        task="message_history_archive",
        first_id=None,
        handler=lambda batch: seen.extend(e.payload["text"] for e in batch),
        redact=lambda payload: {"i": payload["i"]},
    )
    assert seen == ["x", "x", "x"]  # the handler saw the whole payload
    stored = OutboxEvent.objects.order_by("created_at")
    assert [(e.payload, e.processed_at is not None) for e in stored] == [
        ({"i": 0}, True),
        ({"i": 1}, True),
        ({"i": 2}, True),
    ]
    assert events[0].pk == stored[0].pk


@pytest.mark.django_db
def test_a_failing_handler_redacts_nothing():
    OutboxEvent.objects.create(task="message_history_archive", payload={"text": "x"})

    def boom(batch):
        raise RuntimeError("worker crashed mid-batch")

    with pytest.raises(RuntimeError):
        outbox.outbox_drain(
            task="message_history_archive", first_id=None, handler=boom, redact=lambda p: {}
        )
    assert OutboxEvent.objects.get().payload == {"text": "x"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_never_take_the_same_event():
    """Two workers drain at once: SKIP LOCKED on PostgreSQL, the write lock on SQLite."""
    _events(40)
    taken: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def drain(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            while True:

                def handler(batch, slot=slot):
                    taken[slot].extend(e.payload["i"] for e in batch)
                    time.sleep(0.05)  # hold the rows while the other worker looks

                if not outbox.outbox_drain(
                    task="notification_create_for_messages",
                    first_id=None,
                    handler=handler,
                    batch_size=5,
                ):
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken[0] + taken[1]) == list(range(40))  # each exactly once
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_drains_of_one_coalesced_task_run_one_after_the_other_in_order():
    """A second drain (here a task for the newest event) waits for the first to commit, so the
    newer batch never commits first: on PostgreSQL an advisory lock, on SQLite the write lock."""
    events = _events(4)
    log: list[tuple[str, list[int]]] = []
    first_started = threading.Event()

    def drain(name: str, first_id: str | None) -> None:
        def handler(batch):
            log.append((f"{name} starts", [e.payload["i"] for e in batch]))
            if name == "first":
                first_started.set()
                time.sleep(0.3)  # the second drain comes now
            log.append((f"{name} ends", []))

        try:
            outbox.outbox_drain(
                task="notification_create_for_messages",
                first_id=first_id,
                handler=handler,
                batch_size=2,
            )
        finally:
            connection.close()

    first = threading.Thread(target=drain, args=("first", None))
    first.start()
    assert first_started.wait(timeout=10)
    second = threading.Thread(target=drain, args=("second", str(events[3].pk)))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)
    assert log == [
        ("first starts", [0, 1]),
        ("first ends", []),
        ("second starts", [3, 2]),
        ("second ends", []),
    ]


@pytest.mark.django_db
def test_relay_resends_only_events_stuck_past_the_grace_period():
    old = timezone.now() - timedelta(minutes=5)
    stuck = _events(2, created_at=old)
    _events(1)  # fresh: its own publish may still be on the way
    _events(1, created_at=old, processed_at=timezone.now())  # done
    with mock.patch("celery_app.app.send_task") as send_task:
        assert outbox.outbox_relay(grace_seconds=60) == 2
    assert sorted(c.kwargs["task_id"] for c in send_task.call_args_list) == sorted(
        str(e.pk) for e in stuck
    )
    for event in stuck:
        event.refresh_from_db()
        assert event.attempts == 1 and event.last_sent_at is not None
    with mock.patch("celery_app.app.send_task") as send_task:
        assert outbox.outbox_relay(grace_seconds=60) == 0  # just resent: wait another grace
    assert send_task.call_count == 0


@pytest.mark.django_db
def test_relay_stops_at_the_first_failed_publish():
    _events(3, created_at=timezone.now() - timedelta(minutes=5))
    with mock.patch("celery_app.app.send_task", side_effect=OSError("broker down")) as send_task:
        assert outbox.outbox_relay(grace_seconds=0) == 0
    assert send_task.call_count == 1
    assert not OutboxEvent.objects.filter(attempts__gt=0).exists()


@pytest.mark.django_db
def test_relay_command_reports_what_it_did():
    from io import StringIO

    _events(2, created_at=timezone.now() - timedelta(minutes=5))
    out = StringIO()
    with mock.patch("celery_app.app.send_task"):
        call_command("outbox_relay", "--grace=0", stdout=out)
    assert "relayed 2 events; 2 still pending" in out.getvalue()


@pytest.mark.django_db
def test_prune_deletes_only_old_done_events():
    now = timezone.now()
    _events(2, processed_at=now - timedelta(hours=48))
    recent = _events(1, processed_at=now - timedelta(hours=1))
    pending = _events(1, created_at=now - timedelta(hours=48))
    assert outbox.outbox_prune(older_than_hours=24) == 2
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {
        recent[0].pk,
        pending[0].pk,
    }


@pytest.mark.django_db
def test_event_and_its_effect_commit_together(alice, bob):
    """The drain marks events done in the transaction that writes the notifications."""
    services.message_send(sender=alice, receiver=bob, content="x")
    from tasks.notifications import _handle

    def handle_then_crash(batch):
        _handle(batch)
        raise RuntimeError("crash after the insert, before the commit")

    with pytest.raises(RuntimeError):
        outbox.outbox_drain(
            task="notification_create_for_messages", first_id=None, handler=handle_then_crash
        )
    assert not Notification.objects.exists()
    assert OutboxEvent.objects.filter(processed_at__isnull=True).count() == 1
    outbox.outbox_drain(task="notification_create_for_messages", first_id=None, handler=_handle)
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_relay_backs_off_exponentially_per_event_in_one_update(django_assert_num_queries):
    now = timezone.now()
    events = [
        _events(1, next_attempt_at=now - timedelta(seconds=1), attempts=n)[0] for n in range(8)
    ]
    # One SELECT and one UPDATE (in a savepoint here), whatever the number of events.
    with mock.patch("celery_app.app.send_task"), django_assert_num_queries(4):
        assert outbox.outbox_relay(grace_seconds=60) == 8
    for n, event in enumerate(events):
        event.refresh_from_db()
        assert event.attempts == n + 1
        wait = (event.next_attempt_at - event.last_sent_at).total_seconds()
        assert wait == 60 * 2 ** min(n + 1, 6)


@pytest.mark.django_db
def test_backed_off_events_do_not_hide_newer_due_ones_behind_the_limit():
    """The relay's backoff is decided in SQL before its LIMIT: 50 old events that keep failing
    (next attempt in an hour) never take the places of a newer event that is due."""
    now = timezone.now()
    _events(
        50, created_at=now - timedelta(days=1), attempts=5, next_attempt_at=now + timedelta(hours=1)
    )
    due = _events(1, created_at=now - timedelta(minutes=5))
    with mock.patch("celery_app.app.send_task") as send_task:
        assert outbox.outbox_relay(limit=10) == 1
    assert [c.kwargs["task_id"] for c in send_task.call_args_list] == [str(due[0].pk)]


@pytest.mark.django_db
def test_two_relays_at_once_never_take_the_same_event():
    _events(3, created_at=timezone.now() - timedelta(minutes=5))
    first, _ = outbox._claim_due(now=timezone.now(), grace=timedelta(seconds=60), limit=10)
    second, _ = outbox._claim_due(now=timezone.now(), grace=timedelta(seconds=60), limit=10)
    assert len(first) == 3 and second == []


@pytest.mark.django_db
def test_events_that_could_not_be_published_go_out_once_the_broker_is_back(monkeypatch):
    """The publisher thread keeps what it could not send and retries every second, in order,
    without touching the database; new events wait behind the kept ones."""
    monkeypatch.setattr(outbox, "RETRY_SECONDS", 0.1)
    publisher = outbox._Publisher()
    events = _events(3)
    broker_up = threading.Event()
    sent: list[str] = []

    def send_task(name, kwargs, task_id, retry):
        if not broker_up.is_set():
            raise OSError("broker down")
        sent.append(task_id)

    with mock.patch("celery_app.app.send_task", side_effect=send_task):
        for event in events[:2]:
            publisher.submit(event)
        publisher.flush(timeout=5)
        assert sent == [] and len(publisher.unsent) == 2
        broker_up.set()
        publisher.submit(events[2])  # queued behind the two: order is kept
        deadline = time.monotonic() + 5
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert sent == [str(e.pk) for e in events]
    assert not publisher.unsent


@pytest.mark.django_db
def test_an_event_resent_too_often_dies_and_can_be_revived(settings):
    from io import StringIO

    from outbox.selectors import outbox_dead_count

    settings.OUTBOX_MAX_ATTEMPTS = 3
    now = timezone.now()
    (tired,) = _events(1, attempts=3, next_attempt_at=now - timedelta(seconds=1))
    (fresh,) = _events(1, attempts=2, next_attempt_at=now - timedelta(seconds=1))
    with mock.patch("celery_app.app.send_task") as send_task:
        assert outbox.outbox_relay() == 1
    assert [c.kwargs["task_id"] for c in send_task.call_args_list] == [str(fresh.pk)]
    tired.refresh_from_db()
    assert tired.dead_at is not None and tired.processed_at is None
    assert outbox_dead_count() == 1
    with mock.patch("celery_app.app.send_task"):
        assert outbox.outbox_relay(grace_seconds=0) == 0  # the relay leaves it alone
    out = StringIO()
    with mock.patch("celery_app.app.send_task") as send_task:
        call_command("outbox_relay", "--retry-dead", stdout=out)
    assert "revived 1 dead events" in out.getvalue()
    assert str(tired.pk) in [c.kwargs["task_id"] for c in send_task.call_args_list]
    tired.refresh_from_db()
    assert tired.dead_at is None and tired.attempts == 1


@pytest.mark.django_db
def test_a_dead_event_is_left_out_of_other_batches_and_a_bad_event_cannot_block_a_batch():
    poison, *others = _events(4)
    OutboxEvent.objects.filter(pk=others[2].pk).update(dead_at=timezone.now())
    handled: list[list[int]] = []

    def handler(batch):
        handled.append([e.payload["i"] for e in batch])
        if any(e.pk == poison.pk for e in batch):
            raise ValueError("this event always fails")

    taken = outbox.outbox_drain(
        task="notification_create_for_messages", first_id=str(others[0].pk), handler=handler
    )
    # The batch with the bad event failed; the named event was then done on its own.
    assert taken == 1
    assert handled == [[1, 0, 2], [1]]
    assert set(
        OutboxEvent.objects.filter(processed_at__isnull=True).values_list("pk", flat=True)
    ) == {
        poison.pk,
        others[1].pk,
        others[2].pk,
    }


@pytest.mark.django_db
def test_a_running_purge_heartbeats_so_the_relay_leaves_it_alone(make_user):
    user = make_user()
    user.delete()
    event = OutboxEvent.objects.get(task="user_data_purge")
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(hours=1))
    outbox.outbox_heartbeat(str(event.pk))  # what the purge task does after every batch
    with mock.patch("celery_app.app.send_task") as send_task:
        assert outbox.outbox_relay(grace_seconds=60) == 0
    assert send_task.call_count == 0


# --- Coalescing -------------------------------------------------------------------------------


def _publish_all(events) -> list[str]:
    publisher = outbox._Publisher()
    with mock.patch("celery_app.app.send_task") as send_task:
        for event in events:
            publisher.submit(event)
        publisher.flush(timeout=5)
    return [c.kwargs["task_id"] for c in send_task.call_args_list]


@pytest.mark.django_db
def test_while_a_draining_task_is_queued_no_other_is_published(shared_cache):
    events = _events(3)
    assert _publish_all(events) == [str(events[0].pk)]
    # The task has drained: it clears the mark, so the next event publishes again.
    outbox.outbox_drain_all(task="notification_create_for_messages", first_id=None, handler=list)
    later = _events(1)
    assert _publish_all(later) == [str(later[0].pk)]


@pytest.mark.django_db
def test_other_tasks_and_per_process_caches_are_never_coalesced(shared_cache, settings):
    purges = [
        OutboxEvent.objects.create(task="user_data_purge", payload={"i": i}) for i in range(2)
    ]
    assert _publish_all(purges) == [str(e.pk) for e in purges]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    events = _events(2)
    assert _publish_all(events) == [str(e.pk) for e in events]


@pytest.mark.django_db
def test_a_failed_publish_clears_the_mark(shared_cache):
    (event,) = _events(1)
    publisher = outbox._Publisher()
    with mock.patch("celery_app.app.send_task", side_effect=OSError("broker down")):
        publisher.submit(event)
        publisher.flush(timeout=5)
    publisher.forget_unsent()
    (later,) = _events(1)
    assert _publish_all([later]) == [str(later.pk)]


@pytest.mark.django_db
def test_a_coalesced_task_drains_batch_after_batch(settings):
    settings.OUTBOX_BATCH_SIZE = 3
    _events(8)
    batches: list[int] = []
    taken = outbox.outbox_drain_all(
        task="notification_create_for_messages",
        first_id=None,
        handler=lambda batch: batches.append(len(batch)),
    )
    assert taken == 8 and batches == [3, 3, 2]
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_draining_task_takes_the_events_that_came_in_while_it_drained(shared_cache):
    """An event committed during the drain published no task (the mark stood): after clearing
    the mark the task looks again and drains it, leaving nothing pending."""
    _events(3)
    batches: list[list] = []

    def handler(batch):
        batches.append([e.payload.get("i") for e in batch])
        if len(batches) == 1:
            OutboxEvent.objects.create(task="notification_create_for_messages", payload={"i": 9})

    assert outbox._already_queued("notification_create_for_messages") is False  # the mark
    taken = outbox.outbox_drain_all(
        task="notification_create_for_messages", first_id=None, handler=handler
    )
    assert taken == 4 and batches == [[0, 1, 2], [9]]
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
    assert outbox._already_queued("notification_create_for_messages") is False  # cleared


@pytest.mark.django_db
def test_a_draining_task_waits_a_moment_for_the_next_event_before_it_clears_its_mark(
    shared_cache,
):
    """Under steady traffic the next event comes milliseconds after a round finds nothing: the
    task looks again for DRAIN_LINGER_SECONDS with its mark standing (so that event publishes no
    task of its own) and takes it."""
    task = "notification_create_for_messages"
    _events(1)
    marks_when_it_came: list[bool] = []
    real_pending = outbox._pending

    def pending(name):
        if not marks_when_it_came:  # the first look after an empty round: an event comes in
            marks_when_it_came.append(cache.get(outbox._queued_key(task)) is not None)
            OutboxEvent.objects.create(task=task, payload={"i": 9})
        return real_pending(name)

    assert outbox._already_queued(task) is False  # sets the mark, as the publisher does
    batches: list[list] = []
    with mock.patch.object(outbox, "_pending", pending):
        taken = outbox.outbox_drain_all(
            task=task,
            first_id=None,
            handler=lambda batch: batches.append([e.payload["i"] for e in batch]),
        )
    assert taken == 2 and batches == [[0], [9]]
    assert marks_when_it_came == [True]  # the mark stood while the task waited
    assert cache.get(outbox._queued_key(task)) is None  # and is cleared when nothing came


@pytest.mark.django_db(transaction=True)
def test_an_event_whose_task_is_already_queued_never_wakes_the_publishing_thread(
    shared_cache, alice, bob, monkeypatch
):
    """The coalescing mark is checked in the committing thread: the hand-over to the publisher's
    thread (about 0.2 ms of a POST's CPU) happens only when a task must be published."""
    publisher = outbox._process_publisher()
    handed_over = []
    real_submit = publisher.executor.submit

    def submit(fn, *args):
        if args:  # an event (outbox_flush submits a bare function)
            handed_over.append(args[0].task)
        return real_submit(fn, *args)

    monkeypatch.setattr(publisher.executor, "submit", submit)
    with mock.patch("celery_app.app.send_task") as send_task:
        services.message_send(sender=alice, receiver=bob, content="publishes its task")
        outbox.outbox_flush()
        services.message_send(sender=alice, receiver=bob, content="the task is queued")
        outbox.outbox_flush()
    assert handed_over == [services.NOTIFY_TASK]
    assert send_task.call_count == 1
    assert cache.get(outbox._queued_key(services.NOTIFY_TASK)) == 1  # the mark stands


@pytest.mark.django_db
@pytest.mark.parametrize(("pending", "pause"), [(1, 0.005), (3, 0.015), (8, 0.04), (30, 0.05)])
def test_the_pause_after_a_round_grows_with_the_round(monkeypatch, pending, pause):
    """5 ms per event the round took, at most 50 ms: under load the next round finds more."""
    _events(pending)
    pauses = []
    monkeypatch.setattr(outbox.time, "sleep", pauses.append)
    taken = outbox.outbox_drain_all(
        task="notification_create_for_messages", first_id=None, handler=lambda batch: None
    )
    assert taken == pending
    assert pauses[0] == pytest.approx(pause)


@pytest.mark.django_db
def test_a_drain_that_stops_after_its_rounds_hands_the_rest_to_a_new_task(
    shared_cache, monkeypatch, settings
):
    """The end of a burst: no later event would publish a task for what is left."""
    settings.OUTBOX_BATCH_SIZE = 1
    monkeypatch.setattr(outbox, "DRAIN_ROUNDS", 2)
    monkeypatch.setattr(outbox.time, "sleep", lambda seconds: None)
    events = _events(3)
    with mock.patch("celery_app.app.send_task") as send_task:
        taken = outbox.outbox_drain_all(
            task="notification_create_for_messages", first_id=None, handler=lambda batch: None
        )
    assert taken == 2
    assert send_task.call_count == 1
    assert send_task.call_args.kwargs["task_id"] == str(events[2].pk)  # the one left
    assert cache.get(outbox._queued_key("notification_create_for_messages")) == 1


@pytest.mark.django_db
def test_a_drain_that_outlasts_the_marks_lifetime_keeps_extending_it(
    shared_cache, monkeypatch, settings
):
    """Under load a drain runs longer than COALESCE_SECONDS: if its mark expired, each new event
    published a second drain, which ran beside the first (half-size batches, twice the rounds)."""
    task = "notification_create_for_messages"
    settings.OUTBOX_BATCH_SIZE = 1
    monkeypatch.setattr(outbox, "MARK_REFRESH_SECONDS", 0.0)  # every round, here
    monkeypatch.setattr(outbox.time, "sleep", lambda seconds: None)
    _events(3)
    marks = []

    def handler(batch):
        marks.append(cache.get(outbox._queued_key(task)))
        cache.delete(outbox._queued_key(task))  # the mark expires

    assert outbox.outbox_drain_all(task=task, first_id=None, handler=handler) == 3
    assert marks == [1, 1, 1]
    assert cache.get(outbox._queued_key(task)) is None  # cleared at the end


def _commit_after_clearing(monkeypatch, task: str, queued: bool) -> list[OutboxEvent]:
    """Right after the drain clears its mark, an event commits whose publish found the mark
    standing (it was skipped); with `queued`, another task has been published since."""
    real_forget, committed = outbox._forget_queued, []

    def forget(name):
        real_forget(name)
        if not committed:
            committed.append(OutboxEvent.objects.create(task=task, payload={"i": 9}))
            if queued:
                assert outbox._already_queued(task) is False  # the publisher takes the mark

    monkeypatch.setattr(outbox, "_forget_queued", forget)
    return committed


@pytest.mark.django_db
def test_a_drain_that_finds_events_after_clearing_its_mark_takes_the_mark_again(
    shared_cache, monkeypatch
):
    task = "notification_create_for_messages"
    _events(1)
    _commit_after_clearing(monkeypatch, task, queued=False)
    marks = []

    def handler(batch):
        marks.append((batch[0].payload["i"], cache.get(outbox._queued_key(task))))

    assert outbox._already_queued(task) is False
    assert outbox.outbox_drain_all(task=task, first_id=None, handler=handler) == 2
    assert marks == [(0, 1), (9, 1)]  # events of the second stretch publish nothing either


@pytest.mark.django_db
def test_a_drain_leaves_what_came_after_its_clearing_to_a_task_queued_since(
    shared_cache, monkeypatch
):
    task = "notification_create_for_messages"
    _events(1)
    committed = _commit_after_clearing(monkeypatch, task, queued=True)
    assert outbox.outbox_drain_all(task=task, first_id=None, handler=lambda batch: None) == 1
    assert list(OutboxEvent.objects.filter(processed_at__isnull=True)) == committed
    assert cache.get(outbox._queued_key(task)) == 1  # the queued task's mark stands
