"""`forget-me` from Discord goes through the CLI's forget: SQLite, a dataset holding the text, the LanceDB memory;
and the parent's requests (reload, pause, resume, settings changed) reach the running bot on its loop."""
from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import discord.ext.test as dpytest
import pytest

from bot_controller import child
from bot_controller.bot.main import bind, details_of, status_of
from bot_controller.protocol import PauseBot, ReloadModel, ResumeBot, SettingsChanged
from storage import bot_settings
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


class FakeWire:
    """The wire link's surface BotLink uses; requests are delivered from another thread, as the control thread does."""

    def __init__(self):
        self.handlers, self.events = {}, []

    def on_request(self, name, callback):
        self.handlers[name] = callback

    def emit(self, event):
        self.events.append(event)

    def stop_requested(self):
        return False

    def deliver(self, name, request):
        thread = threading.Thread(target=self.handlers[name], args=(request,))
        thread.start()
        thread.join()


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_the_parents_requests_reach_the_bot_and_heartbeats_describe_it(workspace):
    engines = iter([ScriptedEngine("a"), ScriptedEngine("b"), ScriptedEngine("c")])
    bot = await start_bot(workspace, None, engine_loader=lambda path: next(engines))
    wire = FakeWire()
    link = child.BotLink(link=wire, environ={})
    try:
        bind(bot, link)
        first = bot.pipeline.engine
        wire.deliver("bot_reload_model", ReloadModel(path=""))
        await until(lambda: bot.pipeline is not None and bot.pipeline.engine is not first)
        wire.deliver("bot_pause", PauseBot(reason="training"))
        await until(lambda: bot.pipeline is None)
        assert status_of(bot) == "paused"
        wire.deliver("bot_resume", ResumeBot())
        await until(lambda: bot.pipeline is not None)
        conn = workspace.connect()
        bot_settings.set_value(conn, "rate", 0.9)
        conn.close()
        wire.deliver("bot_settings_changed", SettingsChanged(sections=["bot"]))
        await until(lambda: bot.settings.rate == 0.9)
        link.heartbeat(status_of(bot), **details_of(bot))
        beat = wire.events[-1]
        assert beat.details["model"].endswith("fake.gguf") and beat.details["errors"] == 0
        assert {"messages_seen", "replies", "guilds", "latency_ms"} <= set(beat.details)
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_reply_in_thread_opens_a_thread_on_the_trigger(workspace):
    bot = await start_bot(workspace, ScriptedEngine(), settings={"reply_in_thread": True})
    try:
        channel = dpytest.get_config().channels[0]
        posted = []

        class Thread:
            id, name, parent_id = 1234, "t", channel.id

            async def send(self, content, **kwargs):
                posted.append((content, kwargs))

        async def create_thread(*, name):
            posted.append(("thread", name))
            return Thread()

        message = SimpleNamespace(id=1, channel=channel, content="what do you think?", create_thread=create_thread)
        await bot.post(message, SimpleNamespace(id=500, name="Ally"), ["in the thread"])
        assert posted[0] == ("thread", "Ally: what do you think?")
        assert posted[1][0] == "in the thread" and "reference" not in posted[1][1]
        assert posted[1][1]["allowed_mentions"].to_dict()["parse"] == []
    finally:
        await stop_bot(bot)
