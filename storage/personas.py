"""Personas in SQLite: who wrote how much (``author_message_counts``), their names, and the owner's profile edits.

Personas are discovered from message counts; ``persona_profiles`` holds the owner's edits (name, description).
Consent (opt-out, forget) is ``storage.consent``; the rules built on it are ``core.consent``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from storage import artifacts


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


# The artifact API as it was, for callers written before storage.artifacts (the bot, the embed worker).
def register_artifact(conn: sqlite3.Connection, kind: str, path: Path | str, *,
                      users: Iterable[int] | None = None, built_from: Path | str | None = None) -> None:
    """Record (or refresh) something built from the messages; ``users`` whose text it holds (None: anyone's)."""
    artifacts.register(conn, kind, path, users=users, built_from=built_from)


def artifact_stale_reason(conn: sqlite3.Connection, path: Path | str) -> str | None:
    """Why the artifact at ``path`` (or a registered folder holding it, e.g. a GGUF in a run) is stale, or None."""
    return artifacts.stale_reason(conn, path)


# -- persona styles: the automatic profile line of core.dataset.profile (migration 0009)
def style_lines(conn: sqlite3.Connection, *, active_only: bool = True) -> dict[int, str]:
    """user id -> the profile line a prompt gets (the owner's edit, else the computed line); by default only while
    the latest prepare used profile lines."""
    rows = conn.execute("SELECT user_id, COALESCE(edited, line) FROM persona_styles"
                        + (" WHERE active = 1" if active_only else ""))
    return {int(uid): line for uid, line in rows if line}


def styles(conn: sqlite3.Connection) -> dict[int, dict]:
    """user id -> {"profile": dict, "line": computed, "edited": owner's line or None, "active": bool}."""
    import json
    return {int(uid): {"profile": json.loads(profile), "line": line, "edited": edited, "active": bool(active)}
            for uid, profile, line, edited, active in conn.execute(
                "SELECT user_id, profile, line, edited, active FROM persona_styles")}


def save_styles(conn: sqlite3.Connection, computed: dict[int, tuple[str, str]], *, active: bool) -> None:
    """Store computed profiles (user id -> (profile JSON, line)), keeping the owner's edits; ``active`` for all."""
    stamp = now_iso()
    conn.executemany(
        "INSERT INTO persona_styles (user_id, profile, line, active, computed_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(user_id) DO UPDATE SET profile = ?2, line = ?3, active = ?4, computed_at = ?5",
        [(uid, profile, line, int(active), stamp) for uid, (profile, line) in computed.items()])
    conn.execute("UPDATE persona_styles SET active = ?", (int(active),))


def edit_style(conn: sqlite3.Connection, user_id: int, line: str | None) -> None:
    """The owner's line for a persona (None or "" goes back to the computed one)."""
    updated = conn.execute("UPDATE persona_styles SET edited = ? WHERE user_id = ?",
                           (" ".join((line or "").split()) or None, user_id)).rowcount
    if not updated and line:
        conn.execute("INSERT INTO persona_styles (user_id, profile, line, edited, computed_at) "
                     "VALUES (?, '{}', '', ?, ?)", (user_id, " ".join(line.split()), now_iso()))


def delete_style(conn: sqlite3.Connection, user_id: int) -> None:
    conn.execute("DELETE FROM persona_styles WHERE user_id = ?", (user_id,))
