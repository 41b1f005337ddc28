"""Worker nodes, the broker's failover and beat: nothing lost, nothing doubled, nothing twice."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time

from cluster_tests.conftest import CLUSTER_DIR, ROOT, Poster, every_message_notified_once, record
from testkit import wait_until


def test_a_worker_node_killed_mid_burst_loses_and_doubles_nothing(cluster, people):
    """The latency node is SIGKILLed (main process and pool) in the middle of a burst of posts;
    supervisord restarts it. Tasks it held are never acknowledged: the next tasks drain their
    events (and the relay resends what is left), and each message gets one notification."""
    alice, bob = people(2)
    old_pid = cluster.pid("worker-latency")
    with Poster(alice.api(cluster.lb), bob.pk, rate=30) as poster:
        time.sleep(3)
        cluster.kill("worker-latency")
        cluster.wait_running("worker-latency", other_than=old_pid)
        time.sleep(3)
    created = poster.created()
    assert poster.failed() == [], "a post failed while a worker died"
    waited = every_message_notified_once(created, timeout=150)
    record("worker node killed", {"messages": len(created), "all notified after s": waited})


def _outage(killed_at: float, created: list[int]) -> dict[str, float]:
    """When notifications flowed again after the kill (the end of the longest pause between two
    notifications that started after it), and the worst commit-to-notification latency of a
    message committed after the kill."""
    from messaging.models import Notification

    rows = sorted(
        (n.created_at.timestamp(), n.message.timestamp.timestamp())
        for n in Notification.objects.filter(message_id__in=created).select_related("message")
    )
    made = [made for made, _ in rows]
    pauses = [(b - a, b) for a, b in itertools.pairwise(made) if b > killed_at]
    _, resumed = max(pauses)
    after = [made - committed for made, committed in rows if committed > killed_at]
    return {
        "kill -> notifications flow again s": round(resumed - killed_at, 2),
        "worst commit -> notification of a message committed after the kill s": round(
            max(after), 2
        ),
    }


def _promoted_at(cluster, killed_at: float) -> float:
    """Seconds from the kill to the sentinels' +switch-master (their log has the time)."""
    log = (cluster.logs / "sentinel-1.log").read_text()
    stamps = re.findall(r"(\d\d \w{3} \d{4} [\d:.]+) # \+switch-master", log)
    moment = time.mktime(time.strptime(stamps[-1][:-4], "%d %b %Y %H:%M:%S"))
    return moment + int(stamps[-1][-3:]) / 1000 - killed_at


def test_the_broker_fails_over_and_every_notification_arrives_once(cluster, people):
    """Kill the Redis master during a burst of posts: Sentinel promotes the replica, the
    workers and the web processes follow it, and every message gets exactly one notification.
    The posts never fail: a publish that fails leaves its event in the outbox for the relay."""
    alice, bob = people(2)
    master = cluster.master_port()
    program = cluster.broker_program(master)
    with Poster(alice.api(cluster.lb), bob.pk, rate=20) as poster:
        time.sleep(3)
        killed_at = cluster.kill(program)
        wait_until(lambda: cluster.master_port() != master, timeout=30, what="a new master")
        time.sleep(6)
    created = poster.created()
    assert poster.failed() == [], "a post failed during the failover"
    every_message_notified_once(created, timeout=120)
    figures = {
        "messages": len(created),
        "kill -> +switch-master s": round(_promoted_at(cluster, killed_at), 2),
        **_outage(killed_at, created),
    }
    record("broker failover", figures)
    cluster.ctl("start", program)  # rejoins as the new master's replica (bin/cluster redis-node)
    wait_until(lambda: _role(master) == "slave", timeout=30, what="the old master rejoining")


def _role(port: int) -> str:
    import redis

    try:
        return redis.Redis(port=port, socket_timeout=1).info("replication")["role"]
    except redis.RedisError:
        return ""


_LOCK = re.compile(r"^\[(\S+ \S+): INFO/[^]]+\] periodic lock outbox_relay: (taken|released|held)")


def _relay_lock_lines(since: str) -> list[tuple[str, str]]:
    lines = []
    for name in ("worker-latency.log",):
        for line in (CLUSTER_DIR / "logs" / name).read_text().splitlines():
            match = _LOCK.match(line)
            if match and match[1] >= since:
                lines.append((match[1], match[2]))
    return sorted(lines)


def test_a_second_beat_started_by_mistake_never_runs_the_relay_twice_at_once(cluster):
    """A second beat on the same schedule for 40 s: both send outbox_relay every 30 s; the lock
    lets one run at a time (the other copy skips or waits its turn), never two at once."""
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    log = open(CLUSTER_DIR / "logs" / "beat-2.log", "w")  # noqa: SIM115 - closed below
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "beat", "--pidfile=", "-l", "INFO"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(40)
    finally:
        beat.terminate()
        beat.wait(20)
        log.close()
    assert "Sending due task outbox-relay" in (CLUSTER_DIR / "logs" / "beat-2.log").read_text()
    lines = _relay_lock_lines(since)
    holders = 0
    for _, what in lines:
        holders += {"taken": 1, "released": -1}.get(what, 0)
        assert holders <= 1, f"two relays held the lock at once: {lines}"
    record(
        "two beats",
        {
            "relay runs": sum(w == "taken" for _, w in lines),
            "skipped": sum(w == "held" for _, w in lines),
        },
    )
