"""The workspace's SQLite database: connection settings and numbered migrations.

Migrations are the files ``storage/migrations/NNNN_name.sql``, applied in order inside one transaction each;
``PRAGMA user_version`` records the last one applied.
"""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 30_000  # the GUI, a fetch and a prepare may share the file; wait rather than fail
CACHE_KIB = 65_536  # page cache per connection (64 MiB at most): bulk imports touch three indexes at random places


class DatabaseError(Exception):
    """The database file is unusable (corrupt, newer than this app, not SQLite)."""


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in MIGRATIONS_DIR.iterdir():
        match = MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def connect(path: Path | str, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database with WAL, foreign keys and a busy timeout; apply pending migrations."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if migrate:
            apply_migrations(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"{path}: not a usable database ({exc})") from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection):
    """``with transaction(conn):`` BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error (the connection autocommits)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def apply_migrations(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's version; return the resulting version."""
    current = schema_version(conn)
    known = migrations()
    newest = known[-1][0] if known else 0
    if current > newest:
        raise DatabaseError(f"database schema version {current} is newer than this app ({newest}); update the app")
    for number, path in known:
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(path.read_text(encoding="utf-8")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = number
    return current


def split_statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows about strings and triggers)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    leftover = [line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")]
    if leftover:
        raise DatabaseError(f"unterminated statement in migration: {leftover[0][:60]}")
    return statements
