"""A busy server: the bot never waits for SQLite on its event loop, loses no captured message, and a burst is one
transaction (``bot_controller.bot.db_writer``), on a real SQLite file with dpytest's Discord."""
from __future__ import annotations

import asyncio
import threading
import time

import discord.ext.test as dpytest
import pytest

from bot_controller.bot.db_writer import DatabaseWriter, MemoryFeeder
from core.ingest.records import MessageBatch
from storage import bot_settings
from storage.rows import ChannelRow, MessageRow, UserRow
from tests.bot_harness import ScriptedEngine, allow_channel, start_bot, stop_bot


class LockHolder(threading.Thread):
    """Another program holding SQLite's write lock (an import, a forget) for ``seconds``."""

    def __init__(self, workspace, seconds: float) -> None:
        super().__init__(daemon=True)
        self.conn = workspace.connect()
        self.seconds = seconds
        self.holding = threading.Event()

    def run(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.holding.set()
        time.sleep(self.seconds)
        self.conn.execute("COMMIT")
        self.conn.close()


@pytest.mark.asyncio
async def test_capture_while_another_program_holds_the_write_lock_never_stalls_the_loop_and_loses_nothing(
        workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), settings={"capture": True})
    try:
        channel = dpytest.get_config().channels[0]
        await allow_channel(bot, channel)
        holder = LockHolder(workspace, 1.5)
        holder.start()
        holder.holding.wait(5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = [await dpytest.message(f"busy line {number}") for number in range(20)]
        bot_settings.load(bot.conn)  # reads never wait in WAL mode
        elapsed = loop.time() - started
        assert elapsed < 0.75, f"the event loop waited {elapsed:.2f} s for SQLite"  # the lock is held 1.5 s
        assert bot.writer.pending() > 0 or bot.writer.stats.captured == 0  # still queued behind the lock
        await bot.settle()
        holder.join()
        stored = bot.conn.execute("SELECT COUNT(*) FROM messages WHERE channel_id = ?", (channel.id,)).fetchone()[0]
        assert stored == len(sent) and bot.writer.stats.lost == 0
        assert bot.writer.stats.batches < len(sent)  # the burst queued behind the lock went in few transactions
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_reply_count_and_a_setting_are_written_by_the_writer_thread_in_order(workspace):
    bot = await start_bot(workspace, ScriptedEngine("sure"))
    try:
        threads = []
        original = bot_settings.set_value

        def recording(conn, key, value):
            threads.append(threading.current_thread().name)
            return original(conn, key, value)
        stored = await bot.writer.call(recording, "rate", 0.25)
        assert stored == 0.25 and threads == ["dps-sqlite-writer"]
        await dpytest.message(f"<@{bot.user.id}> hello")
        await bot.settle()
        from storage.bot_stats import replies_on
        assert replies_on(bot.conn) == 1
    finally:
        await stop_bot(bot)


def test_a_message_the_database_refuses_costs_only_itself_and_is_reported_lost(workspace, monkeypatch):
    monkeypatch.setattr("bot_controller.bot.db_writer.RETRY_PAUSE_S", 0.01)
    errors = []
    writer = DatabaseWriter(workspace.connect, on_error=errors.append)
    channel = {1: ChannelRow(1, None, "GuildTextChat", "c")}

    def batch(message_id: int) -> MessageBatch:
        row = MessageRow(message_id, 1, 9, "2024-01-01T00:00:00+00:00", None, "Default", f"line {message_id}")
        return MessageBatch(channels=dict(channel), messages=[row], users={9: UserRow(9, "nine", None, False)})
    gate = threading.Event()
    writer.post(lambda conn: gate.wait(5))  # hold the writer so the three captures arrive as one burst
    writer.capture(batch(5))
    writer.capture(batch(2 ** 64))          # an id SQLite cannot store: this one message fails for good
    writer.capture(batch(6))
    gate.set()
    writer.close()
    assert writer.stats.lost == 1 and len(errors) == 1 and "lost 1 message(s)" in errors[0], errors
    conn = workspace.connect()
    assert [row[0] for row in conn.execute("SELECT id FROM messages ORDER BY id")] == [5, 6]
    conn.close()


def test_the_memory_feeder_batches_runs_of_one_kind_in_order():
    calls = []

    class Memory:
        def add_messages(self, items):
            calls.append(("add", list(items)))
            return len(items)

        def replace_messages(self, items):
            calls.append(("replace", list(items)))
            return len(items)

        def forget_messages(self, ids):
            calls.append(("forget", list(ids)))
            return len(ids)
    gate = threading.Event()
    memory = Memory()
    feeder = MemoryFeeder(lambda: (gate.wait(5), memory)[1])
    feeder.feed("add", [1, 2])
    feeder.feed("add", [3])
    feeder.feed("replace", [2])
    feeder.feed("forget", [1, 3])
    gate.set()
    assert feeder.flush(5)
    feeder.close()
    assert calls[0] in (("add", [1]), ("add", [1, 2, 3]))  # the first may be taken before the rest arrive
    flattened = [(kind, item) for kind, items in calls for item in items]
    assert flattened == [("add", 1), ("add", 2), ("add", 3), ("replace", 2), ("forget", 1), ("forget", 3)]
    assert feeder.added == 3
