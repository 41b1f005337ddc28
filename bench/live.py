"""Section 7: live delivery, against one uvicorn process serving streams and the real worker.

- Receipt latency: 100 connected clients; direct messages between them at a steady 50/s, each
  committed through `message_send`. For each message: commit -> the commit of the worker
  transaction that created its notification (and its events), and commit -> the receiver's
  client has the `message.created` event. Push overhead = the difference of the medians.
- Idle streams: N streams held by the one process; RSS growth per stream, and the process's CPU
  over an idle window in which every stream gets heartbeats (the production period, 25 s).
- Fan-out: a conversation of 500 participants, all connected; 20 messages, one at a time; for
  each, commit -> the last of the 500 clients has it.
- Replay: a client away while 1,000 events are committed reconnects with Last-Event-ID; from
  the request until it has all 1,000.
Commit times are stamped by an on_commit callback registered first in the transaction; receipt
times by the client loop when the bytes arrive: the same clock (one machine).
"""

from __future__ import annotations

import time
from pathlib import Path

from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from bench import data
from bench.harness import OUT_DIR, Results, Sizes, ms, percentile, purge_queue, section_header
from bench.harness import worker as bench_worker
from bench.streams import Receivers
from chats.models import Conversation
from live.services import Event, live_publish
from messaging import services
from outbox.models import OutboxEvent
from testkit import ServerProcess, wait_until

SECTION = "7 live"
CREATED = "message.created"


def _tokens(users) -> dict[int, str]:
    return {u.pk: str(AccessToken.for_user(u)) for u in users}


def _committed(send) -> tuple[object, float]:
    """Run `send()` in a transaction; return its result and the wall-clock commit time."""
    stamp: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.append(time.time()))
        result = send()
    return result, stamp[0]


def _receipt(receivers: Receivers, key, message_id: int) -> float | None:
    for arrived, _, kind, body in list(receivers.arrivals[key]):
        if kind == CREATED and body["id"] == message_id:
            return arrived
    return None


def _proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def _rss_kib(pid: int) -> int:
    line = next(x for x in _proc(pid, "status").splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def _cpu_seconds(pid: int) -> float:
    import os

    fields = _proc(pid, "stat").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Receipt latency at a steady rate -----------------------------------------------------------


def _send_steady(pairs, rate: int, seconds: float) -> dict[int, tuple[int, float]]:
    """Direct messages at `rate` per second; message id -> (receiver id, commit time)."""
    sent: dict[int, tuple[int, float]] = {}
    period, next_at = 1.0 / rate, time.perf_counter()
    for i in range(max(1, int(rate * seconds))):
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        next_at += period
        sender, receiver = pairs[i % len(pairs)]
        message, committed = _committed(
            lambda s=sender, r=receiver, i=i: services.message_send(
                sender=s, receiver=r, content=f"live {i}"
            )
        )
        sent[message.pk] = (receiver.pk, committed)
    return sent


def _wait_received(receivers: Receivers, sent: dict[int, tuple[int, float]]) -> None:
    wait_until(
        lambda: all(_receipt(receivers, r, m) for m, (r, _) in sent.items()),
        timeout=60,
        interval=0.2,
        what="every message at its receiver",
    )


def _notified_at(message_ids) -> dict[int, float]:
    events = OutboxEvent.objects.filter(
        task=services.NOTIFY_TASK, payload__message_id__in=list(message_ids)
    )
    return {e.payload["message_id"]: e.processed_at.timestamp() for e in events}


def _steady(results: Results, sizes: Sizes, port: int) -> None:
    users = data.make_users(sizes.live_clients, "live")
    receivers = Receivers(port, keep=(CREATED,))
    try:
        receivers.connect(_tokens(users))
        pairs = [(users[i], users[(i + 1) % len(users)]) for i in range(len(users))]
        # One second at the rate, not counted: a worker started for this section (section 6
        # stops the shared one) is slow on its first tasks, and that is not what this measures.
        _wait_received(receivers, _send_steady(pairs, sizes.steady_rate, 1.0))
        sent = _send_steady(pairs, sizes.steady_rate, sizes.steady_seconds)
        _wait_received(receivers, sent)
        receipts = [ms(_receipt(receivers, r, m) - t) for m, (r, t) in sent.items()]
    finally:
        receivers.stop()
    notified = _notified_at(sent)
    notifications = [ms(notified[m] - t) for m, (_, t) in sent.items()]
    _record_steady(results, sizes, receipts, notifications)


def _record_steady(results: Results, sizes: Sizes, receipts, notifications) -> None:
    name = f"{sizes.steady_rate} msgs/s, {sizes.live_clients} clients"
    note = f"{len(receipts)} messages"
    targets = {50: ("<=", 25.0), 99: ("<=", 100.0)}
    for p in (50, 95, 99):
        value = percentile(receipts, p)
        results.add(
            SECTION,
            f"{name}: commit -> client p{p}",
            value,
            "ms",
            target=targets.get(p),
            note=note if p == 50 else "",
        )
    results.add(SECTION, f"{name}: commit -> client max", max(receipts), "ms")
    results.add(
        SECTION, f"{name}: commit -> notification row p50", percentile(notifications, 50), "ms"
    )
    overhead = percentile(receipts, 50) - percentile(notifications, 50)
    results.add(
        SECTION,
        f"{name}: push adds (p50 client - p50 notification)",
        overhead,
        "ms",
        target=("<=", 10.0),
    )
    results.series["live_receipt_ms"] = receipts
    results.series["live_notification_ms"] = notifications
    results.series["live_rate"] = sizes.steady_rate


# --- Fan-out, replay, idle streams ---------------------------------------------------------------


def _group(users) -> Conversation:
    """A conversation of `users`, made without the membership signal (no join events: this
    measures messages, not 500 people joining)."""
    conversation = Conversation.objects.create(created_by=users[0])
    through = Conversation.participants.through
    through.objects.bulk_create([through(conversation=conversation, user=u) for u in users])
    return conversation


def _fanout(results: Results, sizes: Sizes, port: int) -> None:
    users = data.make_users(sizes.live_fanout, "fan")
    conversation, ids = _group(users), [u.pk for u in users]
    receivers = Receivers(port, keep=(CREATED,))
    lasts = []
    try:
        receivers.connect(_tokens(users))
        for i in range(sizes.live_fanout_messages):
            message, committed = _committed(
                lambda i=i: services.conversation_message_post(
                    sender=users[i % 7],
                    conversation=conversation,
                    content=f"all {i}",
                    participant_ids=ids,
                )
            )
            arrived = wait_until(
                lambda m=message.pk: _all_received(receivers, ids, m), timeout=30, interval=0.05
            )
            lasts.append(ms(max(arrived) - committed))
    finally:
        receivers.stop()
    note = f"{len(lasts)} messages, max {max(lasts):.0f} ms"
    name = f"fan-out to {sizes.live_fanout} connected participants"
    results.add(SECTION, f"{name}: commit -> last client p50", percentile(lasts, 50), "ms")
    results.add(
        SECTION,
        f"{name}: commit -> last client p99",
        percentile(lasts, 99),
        "ms",
        target=("<=", 500.0),
        note=note,
    )


def _all_received(receivers: Receivers, keys, message_id: int) -> list[float] | None:
    times = [_receipt(receivers, key, message_id) for key in keys]
    return None if None in times else times


def _replay(results: Results, sizes: Sizes, port: int) -> None:
    user, n = data.make_user("replay"), sizes.live_replay_events
    tokens = _tokens([user])
    first = Receivers(port)
    try:
        first.connect(tokens)
        last = int(first.arrivals[user.pk][-1][1])
    finally:
        first.stop()
    for start in range(0, n, 100):
        with transaction.atomic():
            live_publish(
                [Event(user.pk, "bench.ping", {"i": i}) for i in range(start, min(n, start + 100))]
            )
    again = Receivers(port)
    try:
        started = time.time()
        again.connect(tokens, last_ids={user.pk: last})  # `ready` follows the replayed events
        pings = [a for a in again.arrivals[user.pk] if a[2] == "bench.ping"]
    finally:
        again.stop()
    if len(pings) != n:
        raise RuntimeError(f"replayed {len(pings)} of {n} events")
    results.add(
        SECTION,
        f"reconnect: replay of {n:,} missed events",
        ms(pings[-1][0] - started),
        "ms",
        target=("<=", 1000.0),
    )


def _idle(results: Results, sizes: Sizes, server: ServerProcess, window: float) -> None:
    n = sizes.live_idle_streams
    users = data.make_users(n, "idle")
    tokens = _tokens(users)
    keys = list(tokens)
    pid = server.process.pid
    receivers = Receivers(server.port)
    try:
        receivers.connect({k: tokens[k] for k in keys[:50]})  # warm: the hub, threads, pools
        time.sleep(1)
        before = _rss_kib(pid)
        started = time.monotonic()
        receivers.connect({k: tokens[k] for k in keys[50:]})
        connect_seconds = time.monotonic() - started
        time.sleep(2)
        after = _rss_kib(pid)
        cpu = _cpu_seconds(pid)
        time.sleep(window)
        idle_cpu = (_cpu_seconds(pid) - cpu) / window * 100
        open_streams = sum(1 for k in keys if receivers.arrivals[k])
    finally:
        receivers.stop()
    note = f"{open_streams:,} open; RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB"
    results.add(SECTION, f"{n:,} streams: opened in", connect_seconds, "s", note=note)
    results.add(
        SECTION,
        f"{n:,} streams: RSS per stream",
        (after - before) / (n - 50),
        "KiB",
        target=("<=", 64.0),
    )
    results.add(
        SECTION,
        f"{n:,} streams: server CPU at idle ({window:.0f}s, heartbeats)",
        idle_cpu,
        "% core",
        target=("<=", 5.0),
    )


def run(results: Results, sizes: Sizes) -> None:
    section_header(
        f"7. Live delivery: uvicorn (one process), {sizes.live_clients} clients at "
        f"{sizes.steady_rate} msgs/s, fan-out to {sizes.live_fanout}, "
        f"{sizes.live_idle_streams:,} idle streams"
    )
    purge_queue()
    bench_worker()
    # The bench's production-like settings, as its worker has (bench/harness.py).
    env = {"DJANGO_SETTINGS_MODULE": "bench.settings"}
    server = ServerProcess(env=env, log_path=OUT_DIR / "uvicorn.log").start()
    heartbeat = float(server.env.get("LIVE_HEARTBEAT_SECONDS", "25"))
    try:
        _steady(results, sizes, server.port)
        _fanout(results, sizes, server.port)
        _replay(results, sizes, server.port)
        _idle(results, sizes, server, window=max(sizes.live_idle_seconds, 1.0))
    finally:
        server.stop()
    results.meta["live_heartbeat_seconds"] = heartbeat
