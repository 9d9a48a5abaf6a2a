"""Writing Discord history: one batch of messages, with its users, channels and checkpoint, in one transaction.

Every writer of people's text (import, fetch, the bot's capture) comes through ``write_batch``, which consults the
consent table inside the same transaction: a message by a forgotten author is withheld (counted, never stored), and
so is their user row (new names of theirs only join the consent aliases that hide them), so a forget that committed
first always wins. An opted-out author's messages are stored and left out of everything built from them.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone

from storage.consent import forgotten_ids, remember_names
from storage.rows import MessageBatch, MessageRow

SQLITE_MAX_VARIABLES = 900  # stays under SQLite's default limit on bound parameters


@dataclass
class Checkpoint:
    """Fetch progress of one channel, committed atomically with the batch it describes."""
    channel_id: int
    newest_stored_id: int | None = None
    oldest_stored_id: int | None = None
    backfill_complete: bool | None = None


@dataclass
class WriteResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: list[int] = field(default_factory=list)  # ids stored with another author: left as they were
    withheld: int = 0  # messages of forgotten authors: consent says they are never stored again
    refused: set[int] = field(default_factory=set)  # the authors whose messages were withheld

    def add(self, other: "WriteResult") -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.conflicts += other.conflicts
        self.withheld += other.withheld
        self.refused |= other.refused


MESSAGE_COLUMNS = ("id", "channel_id", "author_id", "created_at", "edited_at", "type", "content", "reply_to_id",
                   "mentions", "attachment_count", "attachment_urls", "pinned", "reference_id", "reference_kind",
                   "forwarded_content", "visible_text", "seen_at")
PAYLOAD = slice(4, 16)  # edited_at .. visible_text: what an update compares and writes
INSERT_MESSAGE = f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})"
UPDATE_MESSAGE = (f"UPDATE messages SET {', '.join(f'{name}=?' for name in MESSAGE_COLUMNS[PAYLOAD])}, "
                  f"channel_id=?, seen_at=? WHERE id=?")
STORED_COLUMNS = ("id", "author_id", "channel_id", "seen_at") + MESSAGE_COLUMNS[PAYLOAD]
THREAD_STARTER_STUB = "ThreadStarterMessage"  # a thread's copy of its starter message: no content of its own
# A user whose bot flag the source does not know (a CSV export) keeps the stored flag.
UPSERT_USER = ("INSERT INTO users (id, name, display_name, is_bot) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
               "name=excluded.name, display_name=COALESCE(excluded.display_name, users.display_name), "
               "is_bot=excluded.is_bot")
UPSERT_USER_FLAG_UNKNOWN = ("INSERT INTO users (id, name, display_name, is_bot) VALUES (?, ?, ?, 0) "
                            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, "
                            "display_name=COALESCE(excluded.display_name, users.display_name)")
UPSERT_GUILD = ("INSERT INTO guilds (id, name, icon_url) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "name=excluded.name, icon_url=COALESCE(excluded.icon_url, guilds.icon_url)")
# A channel already known keeps its allowlist flag and checkpoint; a placeholder (a thread's parent named only by
# the thread file) never overwrites a fuller row's kind; a source that does not know who may read it (an export)
# keeps the everyone_reads a live fetch recorded.
UPSERT_CHANNEL = ("INSERT INTO channels (id, guild_id, parent_id, kind, name, category, topic, everyone_reads) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET guild_id=COALESCE(excluded.guild_id, channels.guild_id), "
                  "parent_id=COALESCE(excluded.parent_id, channels.parent_id), "
                  "kind=CASE WHEN excluded.kind='Unknown' THEN channels.kind ELSE excluded.kind END, "
                  "name=excluded.name, category=COALESCE(excluded.category, channels.category), "
                  "topic=COALESCE(excluded.topic, channels.topic), "
                  "everyone_reads=COALESCE(excluded.everyone_reads, channels.everyone_reads)")


def message_values(row: MessageRow, seen_at: str) -> tuple:
    # most messages mention nobody and attach nothing: skip the encoder for those (same text as json.dumps)
    mentions = json.dumps(list(row.mentions)) if row.mentions else "[]"
    urls = json.dumps(list(row.attachment_urls), ensure_ascii=False) if row.attachment_urls else "[]"
    return (row.id, row.channel_id, row.author_id, row.created_at, row.edited_at, row.type, row.content,
            row.reply_to_id, mentions, len(row.attachment_urls), urls, int(row.pinned), row.reference_id,
            row.reference_kind, row.forwarded_content, row.visible_text, seen_at)


def write_batch(conn: sqlite3.Connection, batch: MessageBatch, checkpoint: Checkpoint | None = None) -> WriteResult:
    """Upsert the batch (new rows inserted, changed rows updated, reactions replaced) and its checkpoint atomically.

    A stored copy newer than the incoming one (edited later, or the same edit seen by a later export: an older
    export imported after a newer one) is left as it is, reactions included, and counted unchanged. An update never
    changes a message's author (such ids are returned as conflicts) and a thread's stub copy of its starter never
    overwrites the starter's text. Messages and user rows of forgotten authors are withheld (``withheld``).
    """
    seen_at = batch.seen_at or datetime.now(timezone.utc).isoformat(timespec="microseconds")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if batch.guilds:
            conn.executemany(UPSERT_GUILD, [(g.id, g.name, g.icon_url) for g in batch.guilds.values()])
        if batch.channels:
            conn.executemany(UPSERT_CHANNEL, [(c.id, c.guild_id, c.parent_id, c.kind, c.name, c.category, c.topic,
                                               None if c.everyone_reads is None else int(c.everyone_reads))
                                              for c in batch.channels.values()])
        refused = forgotten_ids(conn, [*(row.author_id for row in batch.messages), *batch.users])
        if batch.users:
            write_users(conn, [user for user in batch.users.values() if user.id not in refused])
            if refused:
                remember_names(conn, [user for user in batch.users.values() if user.id in refused])
        rows = deduplicate([row for row in batch.messages if row.author_id not in refused] if refused
                           else batch.messages)
        existing = stored_versions(conn, [row.id for row in rows])
        inserts, updates, current, result = classify(rows, existing, seen_at)
        if refused:
            result.withheld = len({row.id for row in batch.messages if row.author_id in refused})
            result.refused = refused
        conn.executemany(INSERT_MESSAGE, inserts)
        conn.executemany(UPDATE_MESSAGE, updates)
        replace_reactions(conn, current, existing)
        if checkpoint is not None:
            save_checkpoint(conn, checkpoint)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


def write_users(conn: sqlite3.Connection, users) -> None:
    known = [(u.id, u.name, u.display_name, int(u.is_bot)) for u in users if u.is_bot is not None]
    unknown = [(u.id, u.name, u.display_name) for u in users if u.is_bot is None]
    if known:
        conn.executemany(UPSERT_USER, known)
    if unknown:
        conn.executemany(UPSERT_USER_FLAG_UNKNOWN, unknown)


def classify(rows: list[MessageRow], existing: dict[int, tuple], seen_at: str
             ) -> tuple[list, list, list[MessageRow], WriteResult]:
    """Insert values, update values, the rows whose reactions to (re)write, and the counts."""
    result, inserts, updates, current = WriteResult(), [], [], []
    for row in rows:
        values = message_values(row, seen_at)
        stored = existing.get(row.id)
        if stored is None:
            inserts.append(values)
            current.append(row)
            continue
        author_id, channel_id, stored_seen, payload = stored[0], stored[1], stored[2], stored[3:]
        if author_id != row.author_id:
            result.conflicts.append(row.id)
            continue
        # a thread starter lives in its thread (the thread's id is the starter's), whichever file came first
        place = row.id if row.id in (channel_id, row.channel_id) else channel_id
        newest_seen = max(seen_at, stored_seen or seen_at)
        if not is_newer(row, payload, seen_at, stored_seen):
            if place != channel_id:
                updates.append(payload + (place, stored_seen, row.id))
            result.unchanged += 1
            continue
        if payload != values[PAYLOAD] or place != channel_id:
            updates.append(values[PAYLOAD] + (place, newest_seen, row.id))
            result.updated += 1
        else:
            if newest_seen != stored_seen:
                updates.append(payload + (place, newest_seen, row.id))
            result.unchanged += 1
        current.append(row)
    result.new = len(inserts)
    return inserts, updates, current, result


def is_newer(row: MessageRow, payload: tuple, seen_at: str, stored_seen: str | None) -> bool:
    """Whether the incoming copy may replace the stored one: a later edit, else a copy seen no earlier."""
    stored_type, stored_edit = payload[1], payload[0]
    if (row.type == THREAD_STARTER_STUB) != (stored_type == THREAD_STARTER_STUB):
        return stored_type == THREAD_STARTER_STUB  # the full copy always wins over the thread's stub
    if row.edited_at != stored_edit:
        return stored_edit is None or (row.edited_at is not None and row.edited_at > stored_edit)
    return stored_seen is None or seen_at >= stored_seen


def deduplicate(rows: list[MessageRow]) -> list[MessageRow]:
    """The last copy of a message within one batch wins (an export may list an edited message twice)."""
    by_id = {row.id: row for row in rows}
    return list(by_id.values()) if len(by_id) != len(rows) else rows


def stored_versions(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple]:
    found = {}
    for start in range(0, len(ids), SQLITE_MAX_VARIABLES):
        chunk = ids[start:start + SQLITE_MAX_VARIABLES]
        marks = ",".join("?" * len(chunk))
        for record in conn.execute(
                f"SELECT {', '.join(STORED_COLUMNS)} FROM messages WHERE id IN ({marks})", chunk):
            found[record[0]] = tuple(record[1:])
    return found


def replace_reactions(conn: sqlite3.Connection, rows: list[MessageRow], existing: dict[int, tuple]) -> None:
    """The batch's reactions replace the stored ones (a new message has none stored: nothing to delete)."""
    conn.executemany("DELETE FROM reactions WHERE message_id=?", [(row.id,) for row in rows if row.id in existing])
    conn.executemany("INSERT INTO reactions (message_id, emoji, count) VALUES (?, ?, ?) "
                     "ON CONFLICT(message_id, emoji) DO UPDATE SET count=excluded.count",
                     [(row.id, emoji, count) for row in rows for emoji, count in row.reactions])


def save_checkpoint(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
    conn.execute(
        "UPDATE channels SET newest_stored_id=COALESCE(?, newest_stored_id), "
        "oldest_stored_id=COALESCE(?, oldest_stored_id), backfill_complete=COALESCE(?, backfill_complete) WHERE id=?",
        (checkpoint.newest_stored_id, checkpoint.oldest_stored_id,
         None if checkpoint.backfill_complete is None else int(checkpoint.backfill_complete), checkpoint.channel_id))


def delete_messages(conn: sqlite3.Connection, ids) -> int:
    """Delete stored messages (deleted on Discord while the bot watched) with their reactions; returns how many."""
    ids = [int(message_id) for message_id in ids]
    deleted = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for start in range(0, len(ids), SQLITE_MAX_VARIABLES):
            chunk = ids[start:start + SQLITE_MAX_VARIABLES]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM reactions WHERE message_id IN ({marks})", chunk)
            deleted += conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk).rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return deleted
