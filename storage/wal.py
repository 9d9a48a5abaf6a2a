"""Emptying the write-ahead log: after a privacy delete, the old pages must leave the -wal file too.

``PRAGMA wal_checkpoint(TRUNCATE)`` returns (busy, log, checkpointed): it is complete only when busy is 0 and every
frame of the log was copied back (log == checkpointed; 0 and 0 once truncated). A connection reading inside an open
transaction (the panel, the bot) pins its snapshot, so the checkpoint reports busy and must be tried again once that
reader moves on; ``checkpoint_wal`` retries until it completes or its time is up, then fails loudly.
"""
from __future__ import annotations

import sqlite3
import time

ATTEMPT_BUSY_MS = 250    # how long one attempt waits for readers before it reports busy
RETRY_PAUSE_S = 0.05     # pause between attempts, so a reader can finish its transaction
DEFAULT_TIMEOUT_S = 30.0


class CheckpointIncomplete(RuntimeError):
    """The log could not be emptied in time: another connection kept reading from an old snapshot."""


def checkpoint_wal(conn: sqlite3.Connection, timeout_s: float = DEFAULT_TIMEOUT_S,
                   clock=time.monotonic, sleep=time.sleep) -> tuple[int, int, int]:
    """Checkpoint and truncate the WAL, retrying while readers hold old snapshots; returns the final result row.

    A database not in WAL mode returns (0, -1, -1): nothing to do. Raises ``CheckpointIncomplete`` (with the last
    result) when ``timeout_s`` passes without a complete checkpoint."""
    if conn.in_transaction:
        raise CheckpointIncomplete("cannot checkpoint inside an open transaction; commit it first")
    previous_timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    deadline = clock() + timeout_s
    attempts = 0
    try:
        conn.execute(f"PRAGMA busy_timeout = {min(ATTEMPT_BUSY_MS, max(1, int(timeout_s * 1000)))}")
        while True:
            attempts += 1
            try:
                busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError as exc:  # "database is locked": a writer holds it right now
                busy, log, done = 1, -2, -2
                last_error = str(exc)
            else:
                last_error = ""
            if busy == 0 and log == done:
                return busy, log, done
            if clock() >= deadline:
                detail = f" ({last_error})" if last_error else ""
                raise CheckpointIncomplete(
                    f"the write-ahead log still holds old pages after {attempts} checkpoint attempts in "
                    f"{timeout_s:g}s (busy={busy}, log={log}, checkpointed={done}){detail}: another program "
                    f"(the panel or the bot) keeps reading the database")
            sleep(RETRY_PAUSE_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(previous_timeout)}")
