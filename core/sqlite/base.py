"""SQLite whose writers queue on an OS file lock instead of SQLite's sleeping busy handler.

SQLite lets one writer in at a time. A writer that finds the lock taken sleeps in SQLite's busy
handler, 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 then 100 ms between tries, whether the lock was
freed a microsecond after it started sleeping or not: with web processes and a worker writing at
once, the unlucky ones wait tens of milliseconds for a lock that is free. Measured on `make
run`'s shape (2 gunicorn workers and a Celery worker on one SQLite file, 4 clients posting):
p99 126-199 ms this way, 34-41 ms with the writers queued on `flock`, which wakes the next
waiter as soon as the lock is released (BENCHMARKS.md, section 10).

Every transaction takes an exclusive `flock` on `<database>.writers` before its BEGIN IMMEDIATE
and drops it at COMMIT or ROLLBACK. Writes outside a transaction (autocommit) keep SQLite's own
waiting. The lock file is opened per connection and per process, so that a forked worker never
shares its parent's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3

from django.db.backends.sqlite3 import base

# Checkpoints. SQLite copies the WAL back into the database file (and syncs both) every 1,000
# pages by default, in the commit that crosses the mark: under the writers' lock, so every writer
# waited for it (5-10 ms). Here a connection checkpoints after every CHECKPOINT_EVERY commits,
# once it has released the lock: a PASSIVE checkpoint runs beside other writers. Measured on
# `make run`'s shape (section 10's POSTs, SQLite): our POST's p99 40 -> 31 ms, the naive one's
# 28-44 -> 22 ms (two runs each).
CHECKPOINT_EVERY = 100


class DatabaseWrapper(base.DatabaseWrapper):
    _writers_fd: int | None = None
    _writers_pid: int | None = None
    _writing = False
    _commits = 0

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    def _writers_lock(self) -> int:
        if self._writers_fd is None or self._writers_pid != os.getpid():
            path = f"{self.settings_dict['NAME']}.writers"
            self._writers_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            self._writers_pid = os.getpid()
        return self._writers_fd

    def _start_transaction_under_autocommit(self) -> None:
        fcntl.flock(self._writers_lock(), fcntl.LOCK_EX)
        self._writing = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_writing()
            raise

    def _end_writing(self) -> None:
        if self._writing:
            self._writing = False
            fcntl.flock(self._writers_fd, fcntl.LOCK_UN)

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._end_writing()
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self.connection is not None:
            self._commits = 0
            # Another connection's checkpoint running: a later commit's turn.
            with contextlib.suppress(sqlite3.OperationalError):
                self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._end_writing()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._end_writing()
