"""Consent in SQLite: who opted out or was forgotten, the consent version, and forget's deletes.

``consent`` holds opt-outs for any user id (stored or not yet imported) and the names to hide; ``consent_version``
grows with every change (triggers, migration 0008), so a job that read people's text can tell whether consent moved
while it ran (``core.consent.guard``). Every writer of people's text consults this table: ``storage.messages
.write_batch`` withholds a forgotten author's messages inside its own transaction, so a message written after a
forget began can never be stored again (an opted-out person's messages are stored, unused, so that contexts are cut
where they spoke and an opt-in brings them back). An opt-out marks stale the artifacts that hold the user's text
(``storage.artifacts``). ``forget_user`` deletes a user's messages (their reactions cascade), their user row and
profile, and takes their text out of other people's rows (a forward's copy, embed text), in one transaction with
SQLite's secure_delete on so the deleted text is overwritten in the file, then empties the WAL (``storage.wal``).
The files built from their text are ``core.consent``'s to clean. The rules themselves live in ``core.consent``.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from storage import artifacts, wal
from storage.artifacts import Artifact
from storage.db import transaction

SQLITE_MAX_VARIABLES = 900


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def consent_version(conn: sqlite3.Connection) -> int:
    """A number that grows with every consent change (opt-out, opt-in, forget)."""
    row = conn.execute("SELECT version FROM consent_version WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def opted_out_ids(conn: sqlite3.Connection, among: Iterable[int] | None = None) -> set[int]:
    """Ids of opted-out (and forgotten) users; only those in ``among`` when given (one cheap indexed lookup)."""
    return _ids(conn, "opted_out = 1", among)


def forgotten_ids(conn: sqlite3.Connection, among: Iterable[int] | None = None) -> set[int]:
    """Ids of forgotten users (a forget under way included): their messages are never stored again."""
    return _ids(conn, "forgotten_at IS NOT NULL", among)


def _ids(conn: sqlite3.Connection, condition: str, among: Iterable[int] | None) -> set[int]:
    if among is None:
        return {int(uid) for (uid,) in conn.execute(f"SELECT user_id FROM consent WHERE {condition}")}
    ids = list(dict.fromkeys(int(uid) for uid in among))
    found: set[int] = set()
    for start in range(0, len(ids), SQLITE_MAX_VARIABLES):
        chunk = ids[start:start + SQLITE_MAX_VARIABLES]
        found.update(int(uid) for (uid,) in conn.execute(
            f"SELECT user_id FROM consent WHERE {condition} AND user_id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def remember_names(conn: sqlite3.Connection, users: Iterable) -> None:
    """Add the names of refused users (``UserRow``s of forgotten people a source still lists) to their consent
    aliases, so others' messages naming them stay hidden although their user row is never stored again. Only a
    name not known yet changes the row (and the consent version)."""
    for user in users:
        row = conn.execute("SELECT aliases FROM consent WHERE user_id = ?", (user.id,)).fetchone()
        if row is None:
            continue
        known = json.loads(row[0] or "[]")
        fresh = [name for name in (user.display_name, user.name) if name and name not in known]
        if fresh:
            conn.execute("UPDATE consent SET aliases = ? WHERE user_id = ?",
                         (json.dumps(known + fresh, ensure_ascii=False), user.id))


@dataclass(frozen=True)
class ForgetResult:
    user_id: int
    messages: int
    reactions: int
    stale: list[Artifact]            # every artifact holding their text, now stale
    checkpoint: tuple[int, int, int]  # the final PRAGMA wal_checkpoint(TRUNCATE) row: (busy, log, checkpointed)
    copies: int = 0                   # other people's rows their text was taken out of (forwards, embeds)


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
        conn.execute("DELETE FROM persona_styles WHERE user_id = ?", (user_id,))  # their phrases are their words
        return artifacts.mark_stale_for_user(conn, user_id, opted_out_reason(user_id))


def mark_opted_out_artifacts(conn: sqlite3.Connection, user_id: int) -> list[Artifact]:
    """Mark stale what holds an opted-out user's text (a dataset registered while they opted out)."""
    return artifacts.mark_stale_for_user(conn, user_id, opted_out_reason(user_id))


def opted_out_reason(user_id: int) -> str:
    return f"built from the messages of user {user_id}, who opted out"


def forgotten_reason(user_id: int) -> str:
    return f"built from the messages of user {user_id}, who was forgotten"


def save_consent(conn: sqlite3.Connection, user_id: int, opted_out: bool, *, forgotten: bool = False) -> None:
    """Record consent (opted out or in; ``forgotten`` stamps ``forgotten_at`` once, the first time). Opting in
    clears the forgotten mark too: the person asked to be stored again."""
    stamp = now_iso()
    conn.execute(
        "INSERT INTO consent (user_id, opted_out, aliases, changed_at, forgotten_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(user_id) DO UPDATE SET opted_out = ?2, aliases = ?3, changed_at = ?4, "
        "forgotten_at = CASE WHEN ?2 THEN COALESCE(?5, forgotten_at) ELSE NULL END",
        (user_id, int(opted_out), json.dumps(current_aliases(conn, user_id) if opted_out else [], ensure_ascii=False),
         stamp, stamp if forgotten else None))


def user_message_texts(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """The text of every stored message the user wrote (what ``forget`` must find and remove from files)."""
    return [content for (content,) in conn.execute(
        "SELECT content FROM messages WHERE author_id = ? AND content != ''", (user_id,))]


def forget_user(conn: sqlite3.Connection, user_id: int, *, holds_text: Callable[[str], bool] | None = None,
                checkpoint_timeout: float = wal.DEFAULT_TIMEOUT_S) -> ForgetResult:
    """Delete the user's messages, reactions on them, user row and profile; keep them opted out; take their text
    out of other people's rows where ``holds_text`` finds it (``remove_copies``); mark every artifact holding their
    text stale. secure_delete overwrites the freed space, and the WAL is checkpointed and
    truncated (retried while readers hold old snapshots): ``wal.CheckpointIncomplete`` when it cannot finish."""
    conn.execute("PRAGMA secure_delete = ON")  # overwrite the freed pages: the text must not linger in the file
    try:
        with transaction(conn):
            save_consent(conn, user_id, True, forgotten=True)
            copies = remove_copies(conn, user_id, holds_text) if holds_text is not None else 0
            reactions = conn.execute("SELECT COUNT(*) FROM reactions WHERE message_id IN "
                                     "(SELECT id FROM messages WHERE author_id = ?)", (user_id,)).fetchone()[0]
            messages = conn.execute("DELETE FROM messages WHERE author_id = ?", (user_id,)).rowcount
            conn.execute("DELETE FROM persona_profiles WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM persona_styles WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
            stale = artifacts.mark_stale_for_user(conn, user_id, forgotten_reason(user_id), include_stale=True)
        checkpoint = wal.checkpoint_wal(conn, checkpoint_timeout)  # the old pages must leave the WAL too
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    return ForgetResult(user_id, messages, int(reactions), stale, checkpoint, copies)


def remove_copies(conn: sqlite3.Connection, user_id: int, holds_text: Callable[[str], bool]) -> int:
    """Take the user's text out of other people's rows: a forward's copy (``forwarded_content``) and what a message
    shows (``visible_text``: embeds, a forward's embeds) when ``holds_text`` finds their words in it. Returns how
    many rows changed. Inside the caller's transaction."""
    changed = 0
    rows = conn.execute("SELECT id, forwarded_content, visible_text FROM messages WHERE author_id != ? AND "
                        "(forwarded_content IS NOT NULL OR visible_text IS NOT NULL)", (user_id,)).fetchall()
    for message_id, forwarded, visible in rows:
        drop_forward = bool(forwarded) and holds_text(forwarded)
        drop_visible = bool(visible) and holds_text(visible)
        if drop_forward or drop_visible:
            conn.execute("UPDATE messages SET forwarded_content = CASE WHEN ? THEN '' ELSE forwarded_content END, "
                         "visible_text = CASE WHEN ? THEN NULL ELSE visible_text END WHERE id = ?",
                         (int(drop_forward), int(drop_visible), message_id))
            changed += 1
    return changed
