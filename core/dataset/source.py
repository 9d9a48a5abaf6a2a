"""Reading the stored history for ``prepare``: channels, and each channel's messages in id order, streamed.

Each message row carries what admission and threading need, including its author's bot flag and the total of its
reactions; users' names are looked up lazily (and cached) as they are first needed.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping

from core.dataset.scrub import Scrubber
from core.dataset.text import NameBook
from storage import personas as store

CHANNELS = ("SELECT c.id, c.name, COALESCE(g.name, '') FROM channels c LEFT JOIN guilds g ON g.id = c.guild_id "
            "WHERE EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = c.id) ORDER BY c.id")
MESSAGES = ("SELECT m.id, m.author_id, COALESCE(u.is_bot, 0), m.type, m.content, m.created_at, m.reply_to_id, "
            "m.mentions, m.attachment_count, "
            "(SELECT COALESCE(SUM(r.count), 0) FROM reactions r WHERE r.message_id = m.id) "
            "FROM messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.channel_id = ? ORDER BY m.id")


def channels(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(channel id, channel name, server name) of every channel with messages; threads are channels too."""
    return [(int(cid), name or "", guild or "") for cid, name, guild in conn.execute(CHANNELS)]


def channel_messages(conn: sqlite3.Connection, channel_id: int) -> Iterator[tuple]:
    """(id, author_id, is_bot, type, content, created_at, reply_to_id, mentions_json, attachments, reactions)."""
    cursor = conn.execute(MESSAGES, (channel_id,))
    while True:
        rows = cursor.fetchmany(4096)
        if not rows:
            return
        yield from rows


def message_total(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def name_book(conn: sqlite3.Connection, scrubber: Scrubber, opted_out: Mapping[int, Iterable[str]]) -> NameBook:
    """Labels from persona profiles, then the users table (looked up on first use)."""
    overrides = {user_id: name for user_id, (name, _) in store.profiles(conn).items() if name}
    return NameBook(scrubber, overrides=overrides, opted_out=opted_out,
                    loader=lambda user_id: store.user_names(conn, user_id))


def channel_names(conn: sqlite3.Connection, scrubber: Scrubber):
    """A cached ``<#id>`` → channel name lookup."""
    cache: dict[int, str | None] = {}

    def lookup(channel_id: int) -> str | None:
        if channel_id not in cache:
            row = conn.execute("SELECT name FROM channels WHERE id = ?", (channel_id,)).fetchone()
            cache[channel_id] = scrubber.scrub(row[0]) if row and row[0] else None
        return cache[channel_id]
    return lookup
