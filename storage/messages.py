"""Writing Discord history: one batch of messages, with its users, channels and checkpoint, in one transaction."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

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

    def add(self, other: "WriteResult") -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


MESSAGE_COLUMNS = ("id", "channel_id", "author_id", "created_at", "edited_at", "type", "content", "reply_to_id",
                   "mentions", "attachment_count", "attachment_urls", "pinned")
INSERT_MESSAGE = f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})"
UPDATE_MESSAGE = ("UPDATE messages SET edited_at=?, type=?, content=?, reply_to_id=?, mentions=?, attachment_count=?, "
                  "attachment_urls=?, pinned=? WHERE id=?")
UPSERT_USER = ("INSERT INTO users (id, name, display_name, is_bot) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
               "name=excluded.name, display_name=COALESCE(excluded.display_name, users.display_name), "
               "is_bot=excluded.is_bot")
UPSERT_GUILD = ("INSERT INTO guilds (id, name, icon_url) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "name=excluded.name, icon_url=COALESCE(excluded.icon_url, guilds.icon_url)")
# A channel already known keeps its allowlist flag and checkpoint; a placeholder (a thread's parent named only by
# the thread file) never overwrites a fuller row's kind.
UPSERT_CHANNEL = ("INSERT INTO channels (id, guild_id, parent_id, kind, name, category, topic) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET guild_id=COALESCE(excluded.guild_id, channels.guild_id), "
                  "parent_id=COALESCE(excluded.parent_id, channels.parent_id), "
                  "kind=CASE WHEN excluded.kind='Unknown' THEN channels.kind ELSE excluded.kind END, "
                  "name=excluded.name, category=COALESCE(excluded.category, channels.category), "
                  "topic=COALESCE(excluded.topic, channels.topic)")


def message_values(row: MessageRow) -> tuple:
    # most messages mention nobody and attach nothing: skip the encoder for those (same text as json.dumps)
    mentions = json.dumps(list(row.mentions)) if row.mentions else "[]"
    urls = json.dumps(list(row.attachment_urls), ensure_ascii=False) if row.attachment_urls else "[]"
    return (row.id, row.channel_id, row.author_id, row.created_at, row.edited_at, row.type, row.content,
            row.reply_to_id, mentions, len(row.attachment_urls), urls, int(row.pinned))


def write_batch(conn: sqlite3.Connection, batch: MessageBatch, checkpoint: Checkpoint | None = None) -> WriteResult:
    """Upsert the batch (new rows inserted, changed rows updated, reactions replaced) and its checkpoint atomically.

    A stored message that was edited later than the incoming copy (an older export imported after a newer one)
    is left as it is and counted unchanged.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if batch.guilds:
            conn.executemany(UPSERT_GUILD, [(g.id, g.name, g.icon_url) for g in batch.guilds.values()])
        if batch.channels:
            conn.executemany(UPSERT_CHANNEL, [(c.id, c.guild_id, c.parent_id, c.kind, c.name, c.category, c.topic)
                                              for c in batch.channels.values()])
        if batch.users:
            conn.executemany(UPSERT_USER, [(u.id, u.name, u.display_name, int(u.is_bot)) for u in batch.users.values()])
        rows = deduplicate(batch.messages)
        existing = stored_versions(conn, [row.id for row in rows])
        inserts, updates, current, result = classify(rows, existing)
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


def classify(rows: list[MessageRow], existing: dict[int, tuple]) -> tuple[list, list, list[MessageRow], WriteResult]:
    """Insert values, update values, the rows whose reactions to (re)write, and the counts."""
    result, inserts, updates, current = WriteResult(), [], [], []
    for row in rows:
        values = message_values(row)
        stored = existing.get(row.id)
        if stored is None:
            inserts.append(values)
        elif stored[0] is not None and (row.edited_at is None or row.edited_at < stored[0]):
            result.unchanged += 1  # the stored copy is the newer edit
            continue
        elif stored != values[4:]:
            updates.append(values[4:] + (row.id,))
        else:
            result.unchanged += 1
        current.append(row)
    result.new, result.updated = len(inserts), len(updates)
    return inserts, updates, current, result


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
                f"SELECT id, edited_at, type, content, reply_to_id, mentions, attachment_count, attachment_urls, "
                f"pinned "
                f"FROM messages WHERE id IN ({marks})", chunk):
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
