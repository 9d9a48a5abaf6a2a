"""Curation marks in SQLite (migration 0006): which training examples a person reviewed as good or bad.

An example is keyed by its stable id, the target turn's message id (``meta.message_id`` in every JSONL row that
``core.dataset`` writes), so a mark made on one prepared dataset applies to the next prepare of the same history.
``prepare`` reads the marks (``bad_marks``): a bad example is dropped, and one with a better answer becomes a DPO pair
(chosen: the better answer, rejected: the example's own). Deleting the message or the user deletes its mark
(triggers in the migration), so forget needs nothing from this module.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

MARKS = ("good", "bad")


class CurationError(ValueError):
    """A mark that cannot be stored; the message says which value is wrong."""


@dataclass(frozen=True)
class Mark:
    message_id: int
    persona_id: int
    mark: str
    better_answer: str | None
    marked_at: str


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def set_mark(conn: sqlite3.Connection, message_id: int | str, persona_id: int | str, mark: str | None,
             better_answer: str | None = None) -> Mark | None:
    """Store (or replace) the mark of one example; ``mark=None`` clears it. Returns the stored mark."""
    try:
        message_id, persona_id = int(message_id), int(persona_id)
    except (TypeError, ValueError):
        raise CurationError(f"example ids must be numbers, not {message_id!r} / {persona_id!r}") from None
    if mark is None:
        conn.execute("DELETE FROM curation WHERE message_id = ?", (message_id,))
        return None
    if mark not in MARKS:
        raise CurationError(f"a mark is one of {', '.join(MARKS)}, not {mark!r}")
    better = (better_answer or "").strip() or None
    if better is not None and mark != "bad":
        raise CurationError("only a bad example can have a better answer")
    stamp = now_iso()
    conn.execute("INSERT INTO curation (message_id, persona_id, mark, better_answer, marked_at) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT(message_id) DO UPDATE SET persona_id = excluded.persona_id, "
                 "mark = excluded.mark, better_answer = excluded.better_answer, marked_at = excluded.marked_at",
                 (message_id, persona_id, mark, better, stamp))
    return Mark(message_id, persona_id, mark, better, stamp)


def marks(conn: sqlite3.Connection, persona_id: int | None = None) -> dict[int, Mark]:
    """message id -> Mark, of one persona or of everyone."""
    query = "SELECT message_id, persona_id, mark, better_answer, marked_at FROM curation"
    rows = (conn.execute(query + " WHERE persona_id = ?", (int(persona_id),)) if persona_id is not None
            else conn.execute(query))
    return {int(row[0]): Mark(int(row[0]), int(row[1]), row[2], row[3], row[4]) for row in rows}


def bad_marks(conn: sqlite3.Connection) -> dict[int, str | None]:
    """What ``prepare`` needs: message id of every example marked bad -> its better answer (None: just drop it)."""
    return {int(message_id): better for message_id, better in
            conn.execute("SELECT message_id, better_answer FROM curation WHERE mark = 'bad'")}


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many examples are marked good, bad, and bad with a better answer."""
    good, bad, better = conn.execute(
        "SELECT coalesce(sum(mark = 'good'), 0), coalesce(sum(mark = 'bad'), 0), "
        "coalesce(sum(mark = 'bad' AND better_answer IS NOT NULL), 0) FROM curation").fetchone()
    return {"good": int(good), "bad": int(bad), "better": int(better)}
