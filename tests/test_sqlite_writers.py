"""SQLite writers wait in line on a file lock (core/sqlite) instead of SQLite's busy handler.

The test runs on a SQLite file of its own (whatever database the suite runs on), through the
project's backend and through Django's, side by side.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from core.sqlite import base as sqlite_backend
from testkit import wait_until

WRITERS, ROUNDS = 4, 25


def _sqlite(alias: str, engine: str, path) -> None:
    """A database alias on `path`: a busy timeout of 1 ms, so that SQLite's own waiting gives
    up almost at once ("database is locked")."""
    connections.settings[alias] = {
        **connections.settings["default"],
        "ENGINE": engine,
        "NAME": str(path),
        "OPTIONS": {"timeout": 0.001, "transaction_mode": "IMMEDIATE"},
        "TEST": {},
    }
    with connections[alias].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("CREATE TABLE counter (n INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (0)")


def _write_in_turns(alias: str, errors: list) -> None:
    try:
        for i in range(ROUNDS):
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                cursor.execute("UPDATE counter SET n = n + 1")
                if i == 0:
                    threading.Event().wait(0.05)  # hold the lock: the others must wait
    except Exception as exc:  # reported to the test
        errors.append(exc)
    finally:
        connections[alias].close()


def _count_after_writers(alias: str) -> tuple[int, list]:
    errors: list = []
    threads = [
        threading.Thread(target=_write_in_turns, args=(alias, errors)) for _ in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        count = cursor.fetchone()[0]
    connections[alias].close()
    return count, errors


@pytest.fixture
def aliases(tmp_path, django_db_blocker):
    """Databases of the test's own (not the suite's test database)."""
    made = []
    django_db_blocker.unblock()

    def make(alias: str, engine: str):
        _sqlite(alias, engine, tmp_path / f"{alias}.sqlite3")
        made.append(alias)
        return alias

    yield make
    for alias in made:
        connections[alias].close()
        del connections.settings[alias]
    django_db_blocker.restore()


def test_queued_writers_all_get_through_where_sqlites_own_waiting_gives_up(aliases):
    queued = aliases("queued_writers", "core.sqlite")
    assert _count_after_writers(queued) == (WRITERS * ROUNDS, [])
    # The control: Django's backend on the same load loses writes to "database is locked".
    plain = aliases("plain_writers", "django.db.backends.sqlite3")
    count, errors = _count_after_writers(plain)
    assert errors and "locked" in str(errors[0])
    assert count < WRITERS * ROUNDS


def test_checkpoints_run_in_a_thread_of_their_own(aliases, monkeypatch):
    """SQLite's automatic checkpoint ran in the commit that crossed 1,000 pages, under the
    writers' lock (an fsync of each file, while every other writer waited); run by the committing
    connection after its commit, it still held up that request. It is off; every
    CHECKPOINT_EVERY commits a connection asks its process's checkpointer thread, which runs
    it on a connection of its own: the commit never waits for it."""
    alias = aliases("checkpointed", "core.sqlite")
    wrapper = connections[alias]
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 0
    on_the_connection = []
    wrapper.connection.set_trace_callback(
        lambda sql: on_the_connection.append(sql) if "checkpoint" in sql else None
    )
    checkpointer = sqlite_backend.checkpointer(wrapper.settings_dict["NAME"])
    release, started = threading.Event(), threading.Event()
    real_connect = sqlite_backend._connect

    in_the_thread = []

    def slow_connect(path):  # a checkpoint that takes as long as the test wants
        started.set()
        release.wait(10)
        connection = real_connect(path)
        connection.set_trace_callback(lambda sql: in_the_thread.append((path, sql)))
        return connection

    monkeypatch.setattr(sqlite_backend, "_connect", slow_connect)
    done = checkpointer.done
    for _ in range(sqlite_backend.CHECKPOINT_EVERY):
        with transaction.atomic(using=alias), wrapper.cursor() as cursor:
            cursor.execute("UPDATE counter SET n = n + 1")
    assert started.wait(10)  # asked for, and running while the connection goes on writing
    with transaction.atomic(using=alias), wrapper.cursor() as cursor:
        cursor.execute("UPDATE counter SET n = n + 1")
    assert checkpointer.done == done
    release.set()
    wait_until(lambda: checkpointer.done > done, timeout=10, what="the checkpoint")
    assert on_the_connection == []
    path = wrapper.settings_dict["NAME"]
    assert in_the_thread == [(path, "PRAGMA wal_checkpoint(PASSIVE)")]


def test_a_dead_checkpointer_is_replaced(tmp_path):
    """With automatic checkpoints off, a process whose checkpoint thread had died would never
    checkpoint again: the WAL would grow for as long as the process lives."""
    path = str(tmp_path / "dead.sqlite3")
    first = sqlite_backend.checkpointer(path)
    assert sqlite_backend.checkpointer(path) is first
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    first.thread = ended  # as if it had died
    second = sqlite_backend.checkpointer(path)
    assert second is not first
    assert second.thread.is_alive()
