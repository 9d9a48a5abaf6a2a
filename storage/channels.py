"""Channel queries: the fetch allowlist, each channel's fetch checkpoint and server, and the stored-channel listing.

Channel rows themselves are written by ``storage.messages.write_batch`` (with the batch that needs them); this
module reads them and flips the allowlist flag.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.bot_settings import add_home_guilds
from storage.messages import SQLITE_MAX_VARIABLES


@dataclass(frozen=True)
class StoredChannel:
    id: int
    guild_id: int | None
    guild_name: str | None
    parent_id: int | None
    kind: str
    name: str
    category: str | None
    allowlisted: bool
    newest_stored_id: int | None
    oldest_stored_id: int | None
    backfill_complete: bool
    messages: int
    everyone_reads: bool | None = None  # whether @everyone may read it, as a live fetch found; None: unknown


@dataclass(frozen=True)
class FetchState:
    """Where a fetch of one channel resumes. ``derived`` means no fetch ran yet and the ends come from stored
    messages (an imported export), so the fetch continues around them instead of starting over."""
    newest_id: int | None
    oldest_id: int | None
    backfill_complete: bool
    derived: bool = False


STORED_CHANNELS = """
SELECT c.id, c.guild_id, g.name, c.parent_id, c.kind, c.name, c.category, c.allowlisted, c.newest_stored_id,
       c.oldest_stored_id, c.backfill_complete, (SELECT COUNT(*) FROM messages m WHERE m.channel_id = c.id),
       c.everyone_reads
FROM channels c LEFT JOIN guilds g ON g.id = c.guild_id
"""


def _stored_channel(record) -> StoredChannel:
    values = list(record)
    values[7] = bool(values[7])
    values[10] = bool(values[10])
    values[12] = None if values[12] is None else bool(values[12])
    return StoredChannel(*values)


def stored_channels(conn: sqlite3.Connection) -> list[StoredChannel]:
    """Every stored channel and thread, with allowlist flag, checkpoint and message count."""
    rows = conn.execute(STORED_CHANNELS + " ORDER BY c.guild_id, COALESCE(c.parent_id, c.id), c.id").fetchall()
    return [_stored_channel(row) for row in rows]


def stored_channel(conn: sqlite3.Connection, channel_id: int) -> StoredChannel | None:
    row = conn.execute(STORED_CHANNELS + " WHERE c.id = ?", (channel_id,)).fetchone()
    return _stored_channel(row) if row else None


def allowlisted_ids(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM channels WHERE allowlisted = 1 ORDER BY id")]


def channel_guilds(conn: sqlite3.Connection) -> dict[int, int]:
    """Each stored channel's server (channel id -> guild id; channels without one are left out): what memory rows
    written before they carried a guild id get when their folder is upgraded."""
    return dict(conn.execute("SELECT id, guild_id FROM channels WHERE guild_id IS NOT NULL").fetchall())


def known_ids(conn: sqlite3.Connection, ids) -> set[int]:
    ids = list(ids)
    found: set[int] = set()
    for start in range(0, len(ids), SQLITE_MAX_VARIABLES):
        chunk = ids[start:start + SQLITE_MAX_VARIABLES]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in conn.execute(f"SELECT id FROM channels WHERE id IN ({marks})", chunk))
    return found


def guild_ids(conn: sqlite3.Connection, channel_ids) -> list[int]:
    """The servers of these stored channels (a thread's through its own row: fetch stores its guild)."""
    found: list[int] = []
    for channel_id in channel_ids:
        row = conn.execute("SELECT guild_id FROM channels WHERE id = ?", (channel_id,)).fetchone()
        if row and row[0] is not None and row[0] not in found:
            found.append(int(row[0]))
    return found


def set_allowlisted(conn: sqlite3.Connection, ids, allowlisted: bool) -> list[int]:
    """Flip the flag of every id in one transaction; returns the ids whose flag changed. Allowlisting a channel
    makes its server a home server of the bot (``bot_settings.home_guild_ids``) in the same transaction.

    Raises KeyError naming the first unknown id, and then changes nothing.
    """
    ids = list(dict.fromkeys(ids))
    known = known_ids(conn, ids)
    missing = [channel_id for channel_id in ids if channel_id not in known]
    if missing:
        raise KeyError(missing[0])
    changed = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for channel_id in ids:
            cursor = conn.execute("UPDATE channels SET allowlisted = ? WHERE id = ? AND allowlisted != ?",
                                  (int(allowlisted), channel_id, int(allowlisted)))
            if cursor.rowcount:
                changed.append(channel_id)
        if allowlisted:
            add_home_guilds(conn, guild_ids(conn, ids))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return changed


def fetch_state(conn: sqlite3.Connection, channel_id: int) -> FetchState:
    """The checkpoint of a channel; when it never was fetched, the ends of its stored messages (if any)."""
    row = conn.execute("SELECT newest_stored_id, oldest_stored_id, backfill_complete FROM channels WHERE id = ?",
                       (channel_id,)).fetchone()
    newest, oldest, complete = row if row else (None, None, 0)
    if newest is not None or oldest is not None:
        return FetchState(newest, oldest, bool(complete))
    low, high = conn.execute("SELECT MIN(id), MAX(id) FROM messages WHERE channel_id = ?", (channel_id,)).fetchone()
    return FetchState(high, low, bool(complete), derived=high is not None)
