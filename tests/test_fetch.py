"""The fetch logic over fakes of discord.py's history: incremental, backfill, threads, crash resume, 403, retries.

The real DiscordSource adapter runs over the fake client, so discord.py's paging semantics and exceptions are
exercised; the database is a real SQLite file in the test's workspace.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from core.config.app_config import FetchConfig
from core.fetching.discord_source import DiscordSource, message_from_discord
from core.fetching.fetch import Fetcher
from core.ingest.records import MessageBatch
from storage.channels import fetch_state
from storage.messages import write_batch
from tests.fakes_discord import FakeThread, build_server, http_error


@pytest.fixture
def server():
    return build_server(messages=250)


@pytest.fixture
def conn(workspace):
    connection = workspace.connect()
    yield connection
    connection.close()


def fetch(conn, server, channel_ids, *, config=None, sleeps=None, progress=None, notices=None):
    async def go():
        await server.client.login(server.token)
        fetcher = Fetcher(conn, DiscordSource(server.client), config or FetchConfig(),
                          on_progress=progress.append if progress is not None else None,
                          on_notice=notices.append if notices is not None else None,
                          sleep=fake_sleep(sleeps if sleeps is not None else []))
        return await fetcher.run(channel_ids)
    return asyncio.run(go())


def fake_sleep(record: list):
    async def sleep(seconds):
        record.append(seconds)
    return sleep


def stored_ids(conn, channel_id):
    return [row[0] for row in conn.execute("SELECT id FROM messages WHERE channel_id=? ORDER BY id", (channel_id,))]


def checkpoint(conn, channel_id):
    return conn.execute("SELECT newest_stored_id, oldest_stored_id, backfill_complete FROM channels WHERE id=?",
                        (channel_id,)).fetchone()


def test_first_fetch_stores_the_whole_channel_and_marks_backfill_complete(conn, server):
    progress = []
    summary = fetch(conn, server, [server.general.id], progress=progress)
    expected = [m.id for m in server.general.messages]
    assert stored_ids(conn, server.general.id) == expected
    assert checkpoint(conn, server.general.id) == (expected[-1], expected[0], 1)
    assert (summary.messages_new, summary.messages_updated, summary.channels, summary.skipped) == (250, 0, 1, [])
    # newest first in pages of 100 (100, 100, 50: the short page is the start), then one incremental request
    assert server.general.requests == 4
    assert [event.total_messages for event in progress] == [100, 200, 250]
    assert progress[-1].channel_name == "general" and progress[-1].messages_per_second > 0
    row = conn.execute("SELECT kind, name, category, topic, guild_id FROM channels WHERE id=?",
                       (server.general.id,)).fetchone()
    assert row == ("GuildTextChat", "general", "Text Channels", "chat", server.guild.id)
    sample = server.general.messages[7]
    stored = conn.execute("SELECT author_id, created_at, content FROM messages WHERE id=?", (sample.id,)).fetchone()
    assert stored == (sample.author.id, message_from_discord(sample)[0].created_at, sample.content)
    assert conn.execute("SELECT display_name FROM users WHERE id=?", (server.bob.id,)).fetchone() == ("Bobby",)


def test_incremental_fetch_asks_only_after_the_newest_stored_id(conn, server):
    fetch(conn, server, [server.general.id])
    server.general.requests = 0
    new = server.general.fill(30, server.users, start=datetime(2025, 1, 1, tzinfo=timezone.utc))
    summary = fetch(conn, server, [server.general.id])
    assert (summary.messages_new, summary.messages_seen) == (30, 30)
    assert server.general.requests == 1  # one short page after the checkpoint; the backfill is complete
    assert checkpoint(conn, server.general.id)[0] == new[-1].id
    assert len(stored_ids(conn, server.general.id)) == 280
    server.general.requests = 0
    assert fetch(conn, server, [server.general.id]).messages_seen == 0
    assert server.general.requests == 0  # nothing newer than the checkpoint: no request at all


def test_fetch_continues_around_imported_messages(conn, server):
    """Messages stored by an import (no checkpoint yet): backfill goes before them, incremental after them."""
    middle = server.general.messages[100:180]
    batch = MessageBatch(channels={server.general.id: fetch_source_row(conn, server)})
    for message in middle:
        row, users = message_from_discord(message)
        batch.messages.append(row)
        batch.users.update({user.id: user for user in users})
    write_batch(conn, batch)
    state = fetch_state(conn, server.general.id)
    assert (state.newest_id, state.oldest_id, state.derived) == (middle[-1].id, middle[0].id, True)
    summary = fetch(conn, server, [server.general.id])
    assert stored_ids(conn, server.general.id) == [m.id for m in server.general.messages]
    assert (summary.messages_new, summary.messages_seen) == (170, 170)


def fetch_source_row(conn, server):
    from core.ingest.records import ChannelRow, GuildRow
    write_batch(conn, MessageBatch(guilds={server.guild.id: GuildRow(server.guild.id, server.guild.name)}))
    return ChannelRow(server.general.id, server.guild.id, "GuildTextChat", "general")


def test_threads_active_archived_private_and_forum_posts(conn, server):
    general, forum, alice = server.general, server.forum, server.alice
    active = FakeThread(general, "active thread")
    archived = FakeThread(general, "old thread", archived=True)
    private_archived = FakeThread(general, "joined private", private=True, archived=True)
    private_unreadable = FakeThread(general, "secret private", private=True, readable=False)
    post_open = FakeThread(forum, "how do I?")
    post_closed = FakeThread(forum, "solved", archived=True)
    elsewhere = FakeThread(server.random, "not allowlisted")
    for count, thread in zip((3, 120, 2, 5, 4, 6, 7), (active, archived, private_archived, private_unreadable,
                                                       post_open, post_closed, elsewhere)):
        thread.fill(count, [alice])
    summary = fetch(conn, server, [general.id, forum.id])
    fetched = (active, archived, private_archived, post_open, post_closed)
    for thread in fetched:
        assert stored_ids(conn, thread.id) == [m.id for m in thread.messages], thread.name
        assert checkpoint(conn, thread.id)[2] == 1
    kinds = dict(conn.execute("SELECT name, kind FROM channels WHERE parent_id IS NOT NULL"))
    assert kinds["joined private"] == "GuildPrivateThread" and kinds["solved"] == "GuildPublicThread"
    parent, category = conn.execute("SELECT parent_id, category FROM channels WHERE id=?", (post_closed.id,)).fetchone()
    assert (parent, category) == (forum.id, "help-forum")
    assert stored_ids(conn, elsewhere.id) == []
    assert summary.threads == 5 and summary.channels == 1  # the forum itself holds no messages
    assert summary.messages_new == 250 + sum(len(t.messages) for t in fetched)
    assert [item["channel_id"] for item in summary.skipped] == [private_unreadable.id]
    assert "403" in summary.skipped[0]["reason"]


def test_channel_the_bot_may_not_read_is_skipped_and_the_fetch_goes_on(conn, server):
    server.random.fail_at[1] = http_error(403, {"message": "Missing Access", "code": 50001})
    from tests.fakes_discord import FakeTextChannel
    hidden = FakeTextChannel(server.guild, "mods-only", readable=False)
    hidden.fill(5, [server.alice])
    notices = []
    summary = fetch(conn, server, [hidden.id, server.random.id, server.general.id, 42], notices=notices)
    reasons = {item["channel_id"]: item["reason"] for item in summary.skipped}
    assert set(reasons) == {hidden.id, server.random.id, 42}
    assert "may not read" in reasons[hidden.id] and hidden.requests == 0
    assert "HTTP 403" in reasons[server.random.id]
    assert "not visible" in reasons[42]
    assert len(stored_ids(conn, server.general.id)) == 250
    assert any(line.startswith("skipped #mods-only") for line in notices)


def test_transient_errors_are_retried_with_backoff(conn, server):
    server.general.fail_at.update({2: http_error(503), 3: asyncio.TimeoutError(),
                                   4: ConnectionResetError(104, "reset")})
    sleeps, notices = [], []
    summary = fetch(conn, server, [server.general.id], sleeps=sleeps, notices=notices)
    assert sleeps == [2.0, 4.0, 8.0]
    assert summary.skipped == [] and summary.messages_new == 250
    assert stored_ids(conn, server.general.id) == [m.id for m in server.general.messages]
    assert sum("temporary error" in line for line in notices) == 3


def test_a_channel_is_given_up_after_the_configured_retries(conn, server):
    server.general.fail_at.update({n: http_error(502) for n in range(1, 10)})
    sleeps = []
    summary = fetch(conn, server, [server.general.id, server.random.id], sleeps=sleeps,
                    config=FetchConfig(max_retries=2, retry_base_seconds=0.5))
    assert sleeps == [0.5, 1.0]
    assert summary.skipped[0]["channel_id"] == server.general.id
    assert "gave up after 2 retries" in summary.skipped[0]["reason"]
    assert len(stored_ids(conn, server.random.id)) == 40 and stored_ids(conn, server.general.id) == []


def test_crash_during_backfill_keeps_committed_pages_and_the_rerun_completes_exactly(conn, server):
    general = server.general
    general.fill(200, server.users, start=datetime(2023, 6, 1, tzinfo=timezone.utc))  # 450 in all
    general.fail_at[3] = RuntimeError("simulated crash")
    with pytest.raises(RuntimeError):
        fetch(conn, server, [general.id])
    ids = [m.id for m in general.messages]
    assert stored_ids(conn, general.id) == ids[-200:]  # two whole pages, newest first
    assert checkpoint(conn, general.id) == (ids[-1], ids[-200], 0)
    summary = fetch(conn, server, [general.id])
    assert stored_ids(conn, general.id) == ids
    assert (summary.messages_new, summary.messages_updated) == (250, 0)
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM messages").fetchone() == (450, 450)
    assert checkpoint(conn, general.id) == (ids[-1], ids[0], 1)


def test_crash_during_incremental_fetch_resumes_after_the_last_committed_page(conn, server):
    general = server.general
    fetch(conn, server, [general.id])
    general.requests = 0
    general.fill(250, server.users, start=datetime(2025, 3, 1, tzinfo=timezone.utc))
    general.fail_at[2] = RuntimeError("simulated crash")
    with pytest.raises(RuntimeError):
        fetch(conn, server, [general.id])
    assert len(stored_ids(conn, general.id)) == 350
    assert checkpoint(conn, general.id)[0] == general.messages[349].id
    summary = fetch(conn, server, [general.id])
    assert summary.messages_new == 150
    assert stored_ids(conn, general.id) == [m.id for m in general.messages]


def test_explicit_thread_id_is_resolved_and_fetched(conn, server):
    thread = FakeThread(server.random, "side chat", archived=True)
    thread.fill(12, [server.bob])
    summary = fetch(conn, server, [thread.id])
    assert (summary.threads, summary.messages_new) == (1, 12)
    assert conn.execute("SELECT kind, parent_id FROM channels WHERE id=?", (thread.id,)).fetchone() == \
        ("GuildPublicThread", server.random.id)


def test_threads_can_be_left_out_by_config(conn, server):
    thread = FakeThread(server.general, "ignored")
    thread.fill(3, [server.bob])
    summary = fetch(conn, server, [server.general.id], config=FetchConfig(include_threads=False))
    assert summary.threads == 0 and thread.requests == 0


def test_smaller_pages_give_the_same_result(conn, server):
    summary = fetch(conn, server, [server.general.id], config=FetchConfig(page_size=30))
    assert summary.messages_new == 250 and server.general.requests == 9 + 1  # 8 full pages, 1 short, 1 incremental
    assert stored_ids(conn, server.general.id) == [m.id for m in server.general.messages]


def test_the_fetch_records_which_channels_everyone_can_read_and_an_import_keeps_it(conn, server):
    """@everyone's read permission per channel: a public thread (forum posts too) takes its parent's, a private
    thread is never everyone's; a source that does not know (an export) leaves the recorded value."""
    from tests.fakes_discord import FakeTextChannel
    staff = FakeTextChannel(server.guild, "staff", everyone=False)
    staff.fill(3, [server.alice])
    public = FakeThread(server.general, "plans")
    private = FakeThread(server.general, "secret plans", private=True)
    staff_thread = FakeThread(staff, "rota")
    post = FakeThread(server.forum, "how do I start")
    for thread in (public, private, staff_thread, post):
        thread.fill(2, [server.alice, server.bob])
    fetch(conn, server, [server.general.id, staff.id, server.forum.id])
    reads = dict(conn.execute("SELECT id, everyone_reads FROM channels").fetchall())
    assert {key: reads[channel.id] for key, channel in (("general", server.general), ("staff", staff),
                                                          ("forum", server.forum), ("public", public),
                                                          ("private", private), ("staff thread", staff_thread),
                                                          ("post", post))} == \
        {"general": 1, "staff": 0, "forum": 1, "public": 1, "private": 0, "staff thread": 0, "post": 1}
    from core.ingest.records import ChannelRow
    write_batch(conn, MessageBatch(channels={staff.id: ChannelRow(staff.id, server.guild.id, "GuildTextChat",
                                                                   "staff renamed")}))  # as an import writes it
    assert conn.execute("SELECT name, everyone_reads FROM channels WHERE id=?", (staff.id,)).fetchone() == \
        ("staff renamed", 0)
