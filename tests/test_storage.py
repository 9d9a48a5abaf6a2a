"""The storage write path: migrations, write_batch counts and atomicity, checkpoints, reactions, stale copies."""
from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from storage.db import DatabaseError, connect, migrations, schema_version, split_statements
from storage.messages import Checkpoint, write_batch
from storage.rows import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow

USER = UserRow(7, "ann", "Ann")
CHANNEL = ChannelRow(50, 1, "GuildTextChat", "general")


def message(message_id: int, **fields) -> MessageRow:
    values = dict(channel_id=50, author_id=7, created_at="2024-01-01T00:00:00.000000+00:00", edited_at=None,
                  type="Default", content=f"text {message_id}")
    values.update(fields)
    return MessageRow(message_id, **values)


def batch(*rows: MessageRow, channels=(CHANNEL,), users=(USER,)) -> MessageBatch:
    return MessageBatch(messages=list(rows), users={u.id: u for u in users}, channels={c.id: c for c in channels},
                        guilds={1: GuildRow(1, "guild")})


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "studio.db")
    yield connection
    connection.close()


def test_migrations_apply_once(tmp_path):
    first = connect(tmp_path / "db")
    newest = migrations()[-1][0]
    assert schema_version(first) == newest
    first.close()
    again = connect(tmp_path / "db")
    assert schema_version(again) == newest
    assert again.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert again.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_unusable_databases_are_refused(tmp_path):
    (tmp_path / "garbage.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="not a usable database"):
        connect(tmp_path / "garbage.db")
    newer = sqlite3.connect(tmp_path / "newer.db")
    newer.execute("PRAGMA user_version=9999")
    newer.close()
    with pytest.raises(DatabaseError, match="newer than this app"):
        connect(tmp_path / "newer.db")


def test_split_statements_keeps_strings_and_rejects_unterminated():
    assert split_statements("CREATE TABLE a (x TEXT DEFAULT ';');\n-- note\nCREATE TABLE b (y);\n") == [
        "CREATE TABLE a (x TEXT DEFAULT ';');", "-- note\nCREATE TABLE b (y);"]
    with pytest.raises(DatabaseError, match="unterminated"):
        split_statements("CREATE TABLE a (x")


def test_counts_new_updated_unchanged(conn):
    first = write_batch(conn, batch(message(1), message(2, reactions=(("🔥", 2),))))
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    changed = message(2, content="changed", edited_at="2024-01-02T00:00:00.000000+00:00", reactions=(("👍", 1),))
    second = write_batch(conn, batch(message(1), changed, message(3)))
    assert (second.new, second.updated, second.unchanged) == (1, 1, 1)
    assert conn.execute("SELECT content, edited_at FROM messages WHERE id=2").fetchone() == (
        "changed", "2024-01-02T00:00:00.000000+00:00")
    assert conn.execute("SELECT emoji, count FROM reactions").fetchall() == [("👍", 1)]  # replaced, not merged


def test_an_older_copy_never_undoes_an_edit(conn):
    edited = message(1, content="new", edited_at="2024-02-01T00:00:00.000000+00:00", reactions=(("🔥", 5),))
    write_batch(conn, batch(edited))
    older = message(1, content="older edit", edited_at="2024-01-15T00:00:00.000000+00:00")
    for stale in (message(1, content="old"), older):
        result = write_batch(conn, batch(stale))
        assert (result.new, result.updated, result.unchanged) == (0, 0, 1)
    assert conn.execute("SELECT content FROM messages WHERE id=1").fetchone() == ("new",)
    assert conn.execute("SELECT count FROM reactions WHERE message_id=1").fetchone() == (5,)
    newer = message(1, content="newest", edited_at="2024-03-01T00:00:00.000000+00:00")
    assert write_batch(conn, batch(newer)).updated == 1


def test_last_copy_in_a_batch_wins(conn):
    result = write_batch(conn, batch(message(1, content="a"), message(1, content="b")))
    assert result.new == 1
    assert conn.execute("SELECT content FROM messages").fetchall() == [("b",)]


def test_checkpoint_commits_with_its_batch(conn):
    write_batch(conn, batch(message(10)), Checkpoint(50, newest_stored_id=10, oldest_stored_id=10))
    assert conn.execute("SELECT newest_stored_id, oldest_stored_id, backfill_complete FROM channels WHERE id=50"
                        ).fetchone() == (10, 10, 0)
    bad = dataclasses.replace(message(11), channel_id=999)  # unknown channel: a foreign key failure mid-batch
    with pytest.raises(sqlite3.IntegrityError):
        write_batch(conn, batch(message(12), bad, users=(USER, UserRow(8, "new", None))),
                    Checkpoint(50, newest_stored_id=12, backfill_complete=True))
    # nothing of the failed batch is stored: no message, no user, no checkpoint move
    assert conn.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM users WHERE id=8").fetchone() == (0,)
    assert conn.execute("SELECT newest_stored_id, backfill_complete FROM channels WHERE id=50").fetchone() == (10, 0)
    assert not conn.in_transaction


def test_placeholder_channel_never_downgrades(conn):
    write_batch(conn, batch(message(1)))
    write_batch(conn, batch(channels=(ChannelRow(50, None, "Unknown", "general"),)))
    assert conn.execute("SELECT kind, guild_id FROM channels WHERE id=50").fetchone() == ("GuildTextChat", 1)


def test_json_columns_match_the_stored_text(conn):
    row = message(1, mentions=(5, 6), attachment_urls=("https://x/é.png",))
    write_batch(conn, batch(row))
    assert conn.execute("SELECT mentions, attachment_urls, attachment_count FROM messages").fetchone() == (
        "[5, 6]", '["https://x/é.png"]', 1)
    assert write_batch(conn, batch(row)).unchanged == 1  # the same text, so the same row


def test_migration_0004_keeps_only_replies_in_reply_to(tmp_path):
    path = tmp_path / "old.db"
    old = connect(path, migrate=False)
    for number, migration in migrations():
        if number < 4:
            for statement in split_statements(migration.read_text(encoding="utf-8")):
                old.execute(statement)
    old.execute("PRAGMA user_version=3")
    old.execute("INSERT INTO users (id, name) VALUES (7, 'ann')")
    old.execute("INSERT INTO channels (id, kind, name) VALUES (50, 'GuildTextChat', 'general')")
    rows = [(1, "Default", "hello", None), (2, "Reply", "hi back", 1), (3, "ChannelPinnedMessage", "Pinned.", 1),
            (4, "Default", "", 99), (5, "ThreadCreated", "Started a thread.", None)]
    old.executemany("INSERT INTO messages (id, channel_id, author_id, created_at, type, content, reply_to_id) "
                    "VALUES (?, 50, 7, '2024-01-01T00:00:00.000000+00:00', ?, ?, ?)", rows)
    old.close()
    upgraded = connect(path)
    assert schema_version(upgraded) >= 4
    assert upgraded.execute("SELECT id, reply_to_id, reference_id, reference_kind FROM messages ORDER BY id"
                            ).fetchall() == [(1, None, None, None), (2, 1, 1, "Reply"), (3, None, 1, "Pin"),
                                             (4, None, 99, "Forward"), (5, None, None, None)]


def test_a_stub_never_overwrites_and_an_author_never_changes(conn):
    write_batch(conn, batch(message(60, content="the starter", channel_id=50)))
    stub = message(60, content="", type="ThreadStarterMessage", channel_id=60)
    other = UserRow(8, "bob", "Bob")
    thread = ChannelRow(60, 1, "GuildPublicThread", "thread", parent_id=50)
    assert write_batch(conn, batch(stub, channels=(thread,))).unchanged == 1
    assert conn.execute("SELECT channel_id, type, content FROM messages WHERE id=60").fetchone() == (
        60, "Default", "the starter")  # moved into its thread, text kept
    result = write_batch(conn, batch(message(60, author_id=8, content="taken over"), users=(other,)))
    assert result.conflicts == [60] and result.updated == 0
    assert conn.execute("SELECT author_id, content FROM messages WHERE id=60").fetchone() == (7, "the starter")
