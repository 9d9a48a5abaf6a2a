"""`forget-me` from Discord goes through the CLI's forget: SQLite, a dataset holding the text, the LanceDB memory."""
from __future__ import annotations

import asyncio

import discord.ext.test as dpytest
import pytest

from storage.memory import MemoryRow, MemoryStore
from storage.personas import register_artifact
from tests.bot_harness import ScriptedEngine, allow_channel, start_bot, stop_bot

DIM = 4


def memory_row(message, author_id: int) -> MemoryRow:
    return MemoryRow(int(message.id), int(message.channel.id), author_id, message.created_at.isoformat(),
                     message.content, [1.0, 0.0, 0.0, 0.0])


@pytest.mark.asyncio
async def test_forget_me_removes_the_callers_text_from_sqlite_datasets_and_memory(workspace):
    bot = await start_bot(workspace, ScriptedEngine(), settings={"capture": True})
    try:
        config = dpytest.get_config()
        await allow_channel(bot, config.channels[0])
        me, other = config.members
        mine = await dpytest.message("my secret recipe is plums", member=0)
        theirs = await dpytest.message("an unrelated remark", member=1)
        dataset = workspace.datasets_dir / "set1"
        dataset.mkdir()
        (dataset / "train.jsonl").write_text('{"text": "my secret recipe is plums"}\n', encoding="utf-8")
        register_artifact(bot.conn, "dataset", dataset, users=[me.id, other.id])
        store = MemoryStore(workspace.memory_dir, DIM)
        store.add([memory_row(mine, me.id), memory_row(theirs, other.id)])
        await dpytest.message("!forget-me", member=0)
        await asyncio.sleep(0)
        reply = dpytest.get_message().content
        assert reply.startswith("done: 2 of your messages are deleted"), reply  # the command was captured too
        ids = {row[0] for row in bot.conn.execute("SELECT id FROM messages")}
        assert mine.id not in ids and theirs.id in ids
        assert not (dataset / "train.jsonl").exists()
        assert MemoryStore(workspace.memory_dir).known_ids() == {theirs.id}
        assert me.id in bot.options["opted_out"]  # forget also opts them out: never captured again
        again = await dpytest.message("still here", member=0)
        assert again.id not in {row[0] for row in bot.conn.execute("SELECT id FROM messages")}
    finally:
        await stop_bot(bot)
