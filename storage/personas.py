"""Personas, consent and artifacts in SQLite: profile edits, opt-out (any user), forget, stale markers.

Personas are discovered from message counts (``author_message_counts``); ``persona_profiles`` holds the owner's edits.
``consent`` holds opt-outs for any user id and the names to hide. An opt-out marks stale the artifacts that hold the
user's text (``storage.artifacts``). ``forget_user`` deletes a user's messages (their reactions cascade), their user
row and profile, keeps them opted out and marks the artifacts holding their text, in one transaction with SQLite's
secure_delete on so the deleted text is overwritten in the file, then empties the WAL (``storage.wal``). The files
built from their text are core's to clean (``core.dataset.privacy``).
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from storage import artifacts, wal
from storage.artifacts import Artifact


@dataclass(frozen=True)
class ForgetResult:
    user_id: int
    messages: int
    reactions: int
    stale: list[Artifact]            # every artifact holding their text, now stale
    checkpoint: tuple[int, int, int]  # the final PRAGMA wal_checkpoint(TRUNCATE) row: (busy, log, checkpointed)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def author_message_counts(conn: sqlite3.Connection, user_types: Iterable[str], min_messages: int = 1
                          ) -> list[tuple[int, int]]:
    """(user id, messages) of non-bot authors with at least ``min_messages`` messages of ``user_types``, most first."""
    types = sorted(user_types)
    marks = ",".join("?" * len(types))
    # NOT INDEXED: one sequential scan of the table. Going through messages_author would cost a random table
    # lookup per message to read its type: four times slower on a million messages.
    rows = conn.execute(f"SELECT author_id, COUNT(*) AS n FROM messages NOT INDEXED WHERE type IN ({marks}) "
                        f"GROUP BY author_id HAVING n >= ?", (*types, min_messages)).fetchall()
    bots = {user_id for (user_id,) in conn.execute("SELECT id FROM users WHERE is_bot = 1")}
    counts = [(int(user_id), int(count)) for user_id, count in rows if user_id not in bots]
    return sorted(counts, key=lambda item: (-item[1], item[0]))


def message_authors(conn: sqlite3.Connection) -> set[int]:
    """Every author with a stored message (bots included): whose text a dataset built now may hold."""
    return {int(user_id) for (user_id,) in conn.execute("SELECT DISTINCT author_id FROM messages")}


def user_names(conn: sqlite3.Connection, user_id: int) -> tuple[str | None, str | None] | None:
    """(display name, user name) of a stored user, or None."""
    row = conn.execute("SELECT display_name, name FROM users WHERE id = ?", (user_id,)).fetchone()
    return (row[0], row[1]) if row else None


def user_exists(conn: sqlite3.Connection, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None


def users_named(conn: sqlite3.Connection, name: str) -> list[int]:
    """Ids of users whose persona name, display name or user name is ``name`` (case-insensitive)."""
    rows = conn.execute(
        "SELECT id FROM users WHERE lower(display_name) = lower(?1) OR lower(name) = lower(?1) "
        "UNION SELECT user_id FROM persona_profiles WHERE lower(name) = lower(?1) ORDER BY 1", (name,))
    return [int(row[0]) for row in rows]


def profiles(conn: sqlite3.Connection) -> dict[int, tuple[str | None, str | None]]:
    """user id -> (edited name, description)."""
    return {int(uid): (name, description)
            for uid, name, description in conn.execute("SELECT user_id, name, description FROM persona_profiles")}


def set_profile(conn: sqlite3.Connection, user_id: int, *, name: str | None = None,
                description: str | None = None, clear_description: bool = False) -> None:
    """Edit a persona's name and/or description (an empty description clears it)."""
    conn.execute(
        "INSERT INTO persona_profiles (user_id, name, description, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(user_id) DO UPDATE SET name = COALESCE(?2, name), "
        "description = CASE WHEN ?5 THEN NULL ELSE COALESCE(?3, description) END, updated_at = ?4",
        (user_id, name, description or None, now_iso(), int(clear_description)))


def opted_out_users(conn: sqlite3.Connection) -> dict[int, tuple[str, ...]]:
    """Opted-out user id -> the names to hide (the consent suppression list plus their current names)."""
    found: dict[int, tuple[str, ...]] = {}
    rows = conn.execute(
        "SELECT c.user_id, c.aliases, u.display_name, u.name, p.name FROM consent c "
        "LEFT JOIN users u ON u.id = c.user_id LEFT JOIN persona_profiles p ON p.user_id = c.user_id "
        "WHERE c.opted_out = 1")
    for user_id, aliases, display_name, name, profile_name in rows:
        names = [*json.loads(aliases or "[]"), display_name, name, profile_name]
        found[int(user_id)] = tuple(dict.fromkeys(n for n in names if n))
    return found


def consent_rows(conn: sqlite3.Connection) -> dict[int, tuple[bool, str | None]]:
    """user id -> (opted out, forgotten at)."""
    return {int(uid): (bool(out), forgotten)
            for uid, out, forgotten in conn.execute("SELECT user_id, opted_out, forgotten_at FROM consent")}


def current_aliases(conn: sqlite3.Connection, user_id: int) -> list[str]:
    row = conn.execute("SELECT u.display_name, u.name, p.name FROM users u LEFT JOIN persona_profiles p "
                       "ON p.user_id = u.id WHERE u.id = ?", (user_id,)).fetchone()
    previous = conn.execute("SELECT aliases FROM consent WHERE user_id = ?", (user_id,)).fetchone()
    names = [*(json.loads(previous[0]) if previous else []), *(row or ())]
    return list(dict.fromkeys(n for n in names if n))


def set_opted_out(conn: sqlite3.Connection, user_id: int, opted_out: bool) -> list[Artifact]:
    """Record consent; an opt-out marks stale every artifact that holds (or was trained on) the user's text."""
    with transaction(conn):
        save_consent(conn, user_id, opted_out)
        if not opted_out:
            return []
        return artifacts.mark_stale_for_user(conn, user_id, opted_out_reason(user_id))


def mark_opted_out_artifacts(conn: sqlite3.Connection, user_id: int) -> list[Artifact]:
    """Mark stale what holds an opted-out user's text (a dataset registered while they opted out)."""
    return artifacts.mark_stale_for_user(conn, user_id, opted_out_reason(user_id))


def opted_out_reason(user_id: int) -> str:
    return f"built from the messages of user {user_id}, who opted out"


def forgotten_reason(user_id: int) -> str:
    return f"built from the messages of user {user_id}, who was forgotten"


def save_consent(conn: sqlite3.Connection, user_id: int, opted_out: bool, *, forgotten: bool = False) -> None:
    stamp = now_iso()
    conn.execute(
        "INSERT INTO consent (user_id, opted_out, aliases, changed_at, forgotten_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(user_id) DO UPDATE SET opted_out = ?2, aliases = ?3, changed_at = ?4, "
        "forgotten_at = COALESCE(?5, forgotten_at)",
        (user_id, int(opted_out), json.dumps(current_aliases(conn, user_id) if opted_out else [], ensure_ascii=False),
         stamp, stamp if forgotten else None))


def user_message_texts(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """The text of every stored message the user wrote (what ``forget`` must find and remove from files)."""
    return [content for (content,) in conn.execute(
        "SELECT content FROM messages WHERE author_id = ? AND content != ''", (user_id,))]


def forget_user(conn: sqlite3.Connection, user_id: int, *,
                checkpoint_timeout: float = wal.DEFAULT_TIMEOUT_S) -> ForgetResult:
    """Delete the user's messages, reactions on them, user row and profile; keep them opted out; mark every
    artifact holding their text stale. secure_delete overwrites the freed space, and the WAL is checkpointed and
    truncated (retried while readers hold old snapshots): ``wal.CheckpointIncomplete`` when it cannot finish."""
    conn.execute("PRAGMA secure_delete = ON")  # overwrite the freed pages: the text must not linger in the file
    try:
        with transaction(conn):
            save_consent(conn, user_id, True, forgotten=True)
            reactions = conn.execute("SELECT COUNT(*) FROM reactions WHERE message_id IN "
                                     "(SELECT id FROM messages WHERE author_id = ?)", (user_id,)).fetchone()[0]
            messages = conn.execute("DELETE FROM messages WHERE author_id = ?", (user_id,)).rowcount
            conn.execute("DELETE FROM persona_profiles WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
            stale = artifacts.mark_stale_for_user(conn, user_id, forgotten_reason(user_id), include_stale=True)
        checkpoint = wal.checkpoint_wal(conn, checkpoint_timeout)  # the old pages must leave the WAL too
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    return ForgetResult(user_id, messages, int(reactions), stale, checkpoint)


# The artifact API as it was, for callers written before storage.artifacts (the bot, the embed worker).
def register_artifact(conn: sqlite3.Connection, kind: str, path: Path | str, *,
                      users: Iterable[int] | None = None, built_from: Path | str | None = None) -> None:
    """Record (or refresh) something built from the messages; ``users`` whose text it holds (None: anyone's)."""
    artifacts.register(conn, kind, path, users=users, built_from=built_from)


def artifact_stale_reason(conn: sqlite3.Connection, path: Path | str) -> str | None:
    """Why the artifact at ``path`` (or a registered folder holding it, e.g. a GGUF in a run) is stale, or None."""
    return artifacts.stale_reason(conn, path)
