"""Reading the stored history for ``prepare``: channels, and each channel's messages in id order, streamed.

Each message row carries what admission and threading need, including the total of its reactions; bot flags come
from a set of bot ids and users' names are looked up lazily (and cached) as they are first needed.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping

from core.conversation.scrub import Scrubber
from core.conversation.text import NameBook
from storage import personas as store

CHANNELS = ("SELECT c.id, c.name, COALESCE(g.name, '') FROM channels c LEFT JOIN guilds g ON g.id = c.guild_id "
            "WHERE EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = c.id) ORDER BY c.id")
# Reactions are merged in from a second cursor in the same id order rather than summed by a subquery per row, and
# bot flags come from a set: both halve the cost of reading a message row.
MESSAGES = ("SELECT id, author_id, type, content, created_at, reply_to_id, mentions, attachment_count "
            "FROM messages WHERE channel_id = ? ORDER BY id")
REACTIONS = ("SELECT r.message_id, SUM(r.count) FROM reactions r JOIN messages m ON m.id = r.message_id "
             "WHERE m.channel_id = ? GROUP BY r.message_id ORDER BY r.message_id")
FETCH_ROWS = 4096
NO_REACTIONS = (1 << 63, 0)  # past every id


def channels(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(channel id, channel name, server name) of every channel with messages; threads are channels too."""
    return [(int(cid), name or "", guild or "") for cid, name, guild in conn.execute(CHANNELS)]


def bot_ids(conn: sqlite3.Connection) -> frozenset[int]:
    return frozenset(user_id for (user_id,) in conn.execute("SELECT id FROM users WHERE is_bot = 1"))


def channel_messages(conn: sqlite3.Connection, channel_id: int) -> Iterator[tuple]:
    """(id, author_id, type, content, created_at, reply_to_id, mentions_json, attachments, reactions) in id order."""
    reacted = conn.execute(REACTIONS, (channel_id,))
    next_reacted = reacted.fetchone() or NO_REACTIONS
    cursor = conn.execute(MESSAGES, (channel_id,))
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return
        for row in rows:
            message_id = row[0]
            while next_reacted[0] < message_id:
                next_reacted = reacted.fetchone() or NO_REACTIONS
            yield (*row, next_reacted[1] if next_reacted[0] == message_id else 0)


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
