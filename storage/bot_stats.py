"""The bot's reply counts per day in SQLite (migration 0007): the bot adds one per reply it sent, the control
panel's Dashboard reads today's. The day is the local calendar date (what a person means by "today")."""
from __future__ import annotations

import datetime as dt
import sqlite3


def today() -> str:
    return dt.date.today().isoformat()


def record_reply(conn: sqlite3.Connection, day: str | None = None, count: int = 1) -> int:
    """Add ``count`` replies to ``day`` (default: today); returns that day's total."""
    day = day or today()
    conn.execute("INSERT INTO bot_daily_replies (day, replies) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET "
                 "replies = replies + excluded.replies", (day, count))
    return replies_on(conn, day)


def replies_on(conn: sqlite3.Connection, day: str | None = None) -> int:
    """Replies sent on ``day`` (default: today); 0 for a day without any."""
    row = conn.execute("SELECT replies FROM bot_daily_replies WHERE day = ?", (day or today(),)).fetchone()
    return int(row[0]) if row else 0


def recent(conn: sqlite3.Connection, days: int = 7) -> list[tuple[str, int]]:
    """The last ``days`` days that had replies, newest first."""
    return [(day, int(count)) for day, count in conn.execute(
        "SELECT day, replies FROM bot_daily_replies ORDER BY day DESC LIMIT ?", (days,))]
