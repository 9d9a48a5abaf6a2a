"""Live capture into SQLite (fetch's mapping): a message, its edit, its delete; never an opted-out user's."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from storage import bot_settings
from storage.consent import set_opted_out
from tests.bot_harness import ScriptedEngine, allow_channel, start_bot, stop_bot
from tests.fakes_discord import FakeMessage, FakeUser


class RecordingMemory:
    def __init__(self):
        self.added = []

    def add_messages(self, messages):
        self.added.extend(messages)
        return len(messages)

    def replace_messages(self, messages):
        return self.add_messages(messages)

    def forget_messages(self, message_ids):
        return 0

    def recall(self, text, *, channels, k=None):
        return []


@pytest_asyncio.fixture
async def bot(workspace):
    memory = RecordingMemory()
    bot = await start_bot(workspace, ScriptedEngine(), settings={"capture": True, "memory": True},
                          memory_loader=lambda: memory)
    bot.memory_for_test = memory
    await allow_channel(bot, dpytest.get_config().channels[0])
    yield bot
    await stop_bot(bot)


def stored(bot, message_id: int):
    return bot.conn.execute("SELECT content, edited_at, author_id FROM messages WHERE id = ?",
                            (message_id,)).fetchone()


@pytest.mark.asyncio
async def test_a_message_its_edit_and_its_delete_reach_sqlite(bot):
    cog = bot.get_cog("CaptureCog")
    message = await dpytest.message("first words")
    await bot.settle()
    assert stored(bot, message.id)[0] == "first words"
    assert [m.message_id for m in bot.memory_for_test.added] == [message.id]
    assert bot.memory_for_test.added[0].guild_id == message.guild.id != 0  # every memory knows its server
    channel, author = message.channel, message.author
    edited = FakeMessage(channel, message.id, FakeUser(author.id, author.name), "second words",
                         edited_at=datetime.now(timezone.utc))
    await cog.on_raw_message_edit(SimpleNamespace(message=edited))
    await bot.settle()
    content, edited_at, author_id = stored(bot, message.id)
    assert (content, author_id) == ("second words", author.id) and edited_at is not None
    await cog.on_raw_message_delete(SimpleNamespace(channel_id=channel.id, message_id=message.id))
    await bot.settle()
    assert stored(bot, message.id) is None


@pytest.mark.asyncio
async def test_an_opted_out_user_is_never_stored_not_even_as_a_mention(bot):
    members = dpytest.get_config().members
    set_opted_out(bot.conn, members[1].id, True)
    bot.refresh_settings()
    mine = await dpytest.message("my private words", member=1)
    await bot.settle()
    assert stored(bot, mine.id) is None
    theirs = await dpytest.message(f"hey <@{members[1].id}>", member=0)
    await bot.settle()
    assert stored(bot, theirs.id) is not None
    assert bot.conn.execute("SELECT COUNT(*) FROM users WHERE id = ?", (members[1].id,)).fetchone()[0] == 0
    assert all(m.author_id != members[1].id for m in bot.memory_for_test.added)


@pytest.mark.asyncio
async def test_nothing_is_captured_outside_the_allowlist_or_with_capture_off(bot):
    bot_settings.set_value(bot.conn, "capture", False)
    bot.refresh_settings()
    message = await dpytest.message("not kept")
    await bot.settle()
    assert stored(bot, message.id) is None


class HashEmbedder:
    """A fast stand-in for MiniLM (the real one is tested in test_memory_embed); the store is real LanceDB."""
    dim = 16
    name = "hash"

    def encode(self, texts):
        import numpy as np
        rows = [np.frombuffer(__import__("hashlib").sha256(text.encode()).digest()[:16], dtype=np.uint8)
                .astype("float32") + 1.0 for text in texts]
        return np.stack([row / np.linalg.norm(row) for row in rows])


@pytest.mark.asyncio
async def test_an_edit_replaces_and_a_delete_removes_the_text_in_the_real_memory_folder(workspace):
    from model.embedding import LiveMemory
    from storage.memory import MemoryStore
    memory = LiveMemory(MemoryStore(workspace.memory_dir, HashEmbedder.dim), HashEmbedder(), workspace.connect())
    bot = await start_bot(workspace, ScriptedEngine(), settings={"capture": True, "memory": True},
                          memory_loader=lambda: memory)
    try:
        await allow_channel(bot, dpytest.get_config().channels[0])
        memory.refresh_consent()
        message = await dpytest.message("my quokka-lantern secret recipe")
        await bot.settle()
        cog = bot.get_cog("CaptureCog")

        def folder_has(text):
            return any(text.encode() in path.read_bytes() for path in workspace.memory_dir.rglob("*") if path.is_file())
        assert memory.store.known_ids() == {message.id} and folder_has("quokka-lantern")
        edited = FakeMessage(message.channel, message.id, FakeUser(message.author.id, message.author.name),
                             "my edited words about soup", edited_at=datetime.now(timezone.utc))
        await cog.on_raw_message_edit(SimpleNamespace(message=edited))
        await bot.settle()
        assert memory.store.count() == 1 and not folder_has("quokka-lantern") and folder_has("edited words")
        await cog.on_raw_message_delete(SimpleNamespace(channel_id=message.channel.id, message_id=message.id))
        await bot.settle()
        assert memory.store.count() == 0 and not folder_has("edited words")
    finally:
        await stop_bot(bot)
