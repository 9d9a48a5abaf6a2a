"""The consent lock: one per workspace database, held across processes while consent changes or a job publishes.

A forget, an opt-out or an opt-in holds it for its whole run; ``prepare`` and ``embed`` hold it only while they
check consent and publish (``core.consent.guard``), so a dataset is never published with the text of someone who
opted out while it was built. The lock is a file beside the database (``studio.db.consent.lock``) held with
``filelock`` (fcntl on Linux and macOS, msvcrt on Windows; released by the OS if the holder dies). The instance is a
singleton per path, so one thread may take it again (a forget that publishes nothing needs no second lock), while
another thread or process waits.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_SUFFIX = ".consent.lock"
WAIT_SECONDS = 900.0  # a forget of a person with many messages in a large workspace takes minutes; wait, then fail
_MEMORY_LOCKS: dict[int, threading.RLock] = {}  # databases without a file (tests' :memory:): a process-local lock


class ConsentBusy(RuntimeError):
    """The consent lock was held by someone else for longer than the wait; the message says what to do."""


def database_file(conn: sqlite3.Connection) -> Path | None:
    """The file of the connection's main database, or None for an in-memory one."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + LOCK_SUFFIX)


class consent_lock:
    """``with consent_lock(conn):`` hold the consent lock of ``conn``'s database (re-entrant in one thread)."""

    def __init__(self, conn: sqlite3.Connection, timeout: float = WAIT_SECONDS):
        database = database_file(conn)
        self.timeout = timeout
        self.path = lock_path(database) if database is not None else None
        self._lock = (FileLock(str(self.path), is_singleton=True) if self.path is not None
                      else _MEMORY_LOCKS.setdefault(id(conn), threading.RLock()))

    def __enter__(self) -> "consent_lock":
        if isinstance(self._lock, FileLock):
            try:
                self._lock.acquire(timeout=self.timeout)
            except Timeout:
                raise ConsentBusy(f"{self.path}: another program has been changing consent for over "
                                  f"{self.timeout:.0f} s (a forget still running?); try again when it is done"
                                  ) from None
        else:
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()
