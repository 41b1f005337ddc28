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

import fcntl
import logging
import os
import sqlite3
import threading
from urllib.parse import quote

from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)

# Checkpoints. SQLite copies the WAL back into the database file (and syncs both) every 1,000
# pages by default, in the commit that crosses the mark: under the writers' lock, so every writer
# waited for it (5-10 ms). Here automatic checkpoints are off; each connection asks for one after
# every CHECKPOINT_EVERY commits, and a thread of the process runs it (PASSIVE: beside readers
# and writers) on a connection of its own, so that no request or task waits for the copy and
# the fsyncs either. Measured on `make run`'s shape (section 10's POSTs, SQLite): with the
# checkpoint in the committing request after the lock was released, our POST's p99 40 -> 31 ms
# and the naive one's 28-44 -> 22 ms (two runs each); BENCHMARKS.md has the thread's figures.
CHECKPOINT_EVERY = 100


class _Checkpointer:
    """A daemon thread that checkpoints one database file when asked. Asks that come while it
    works are merged into one more checkpoint. It opens a connection per checkpoint (about 0.1
    ms, every hundred commits or more) rather than keeping one, so that a database file deleted
    and created again between checkpoints (as the test suite does) is the one checkpointed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wanted = threading.Event()
        self.done = 0  # checkpoints run to the end
        self.thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.thread.start()

    def request(self) -> None:
        self.wanted.set()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            try:
                connection = _connect(self.path)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    connection.close()
            except sqlite3.OperationalError:
                continue  # another process checkpointing, or the file gone: a later ask's turn
            except Exception:
                logger.exception("sqlite: checkpoint of %s failed", self.path)
                continue
            self.done += 1


def _connect(path: str) -> sqlite3.Connection:
    """A connection to the file at `path`, which is never created here (mode=rw)."""
    return sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0)


_checkpointers: dict[str, _Checkpointer] = {}
_checkpointers_lock = threading.Lock()


def _forget_checkpointers() -> None:
    """In a forked child: the parent's threads are not there, and its lock may have been held."""
    global _checkpointers_lock
    _checkpointers.clear()
    _checkpointers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_checkpointers)


def checkpointer(path: str) -> _Checkpointer:
    """This process's checkpointer of `path`."""
    with _checkpointers_lock:
        found = _checkpointers.get(path)
        if found is None or not found.thread.is_alive():
            found = _checkpointers[path] = _Checkpointer(path)
        return found


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
        if self._commits >= CHECKPOINT_EVERY and not self.is_in_memory_db():
            self._commits = 0
            checkpointer(str(self.settings_dict["NAME"])).request()

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
