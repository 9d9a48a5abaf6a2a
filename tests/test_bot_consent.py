"""Consent through the bot (dpytest's Discord, a real SQLite file, a real LanceDB folder): ``!optout`` is the CLI's
opt-out (their rows leave the memory folder), ``!forget-me`` is single-flight and rate-limited, a forget running in
another process stops the bot's capture from its first moment, an opted-out person is never the bot's persona,
and a reply in #general never recalls #staff."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import discord.ext.test as dpytest
import pytest

from bot_controller.bot.consent_cog import FORGET_EVERY
from model.embedding import LiveMemory
from storage import bot_settings
from storage.memory import MemoryStore
from tests.bot_harness import (PERSONA_ID, ScriptedEngine, allow_channel, overwrite_types_as_discord_sends_them,
                               sent_messages, start_bot, stop_bot)
from tests.test_bot_capture import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]


def folder_has(workspace, text: str) -> bool:
    return any(text.encode() in path.read_bytes() for path in workspace.memory_dir.rglob("*") if path.is_file())


async def memory_bot(workspace, engine=None, **options):
    memory = LiveMemory(MemoryStore(workspace.memory_dir, HashEmbedder.dim), HashEmbedder(), workspace.connect())
    bot = await start_bot(workspace, engine or ScriptedEngine("ok"), settings={"capture": True, "memory": True},
                          memory_loader=lambda: memory, **options)
    await allow_channel(bot, dpytest.get_config().channels[0])
    memory.refresh_consent()
    return bot, memory


@pytest.mark.asyncio
async def test_the_bots_optout_takes_their_words_out_of_the_memory_folder_like_the_cli(workspace):
    bot, memory = await memory_bot(workspace)
    try:
        await dpytest.message("my walrus-accordion plan for saturday", member=0)
        await bot.settle()
        assert folder_has(workspace, "walrus-accordion")
        sent_messages()
        await dpytest.message("!optout", member=0)
        assert sent_messages()[0].content.startswith("you are opted out")
        assert not folder_has(workspace, "walrus-accordion") and MemoryStore(workspace.memory_dir).count() == 0
        await dpytest.message("and one more walrus-accordion line", member=0)
        await bot.settle()
        assert not folder_has(workspace, "walrus-accordion")  # nothing of theirs enters the memory after it
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_forget_me_is_single_flight_and_rate_limited_per_person(workspace, monkeypatch):
    started = asyncio.Event()
    calls = []

    def slow_forget(workspace_, action, user_id):
        calls.append((action, user_id))
        asyncio.run_coroutine_threadsafe(_set(started), loop)
        import time
        time.sleep(0.5)
        return {"messages_deleted": 3}
    monkeypatch.setattr("bot_controller.bot.consent_cog.run_consent", slow_forget)
    bot = await start_bot(workspace, ScriptedEngine("ok"))
    loop = asyncio.get_running_loop()
    try:
        first = asyncio.create_task(dpytest.message("!forget-me", member=0))
        await asyncio.wait_for(started.wait(), 5)
        await dpytest.message("!forget-me", member=0)          # while the first runs
        await first
        lines = [message.content for message in sent_messages()]
        assert any(line.startswith("your forget is already running") for line in lines)
        assert any(line.startswith("done: 3 of your messages") for line in lines)
        await dpytest.message("!forget-me", member=0)          # right after it finished
        assert sent_messages()[0].content.startswith("your messages were forgotten a few minutes ago")
        assert calls == [("forget", dpytest.get_config().members[0].id)]
        cog = bot.get_cog("ConsentCog")
        cog.clock = lambda: 10 ** 9                             # FORGET_EVERY later: allowed again
        assert FORGET_EVERY < 10 ** 9
        await dpytest.message("!forget-me", member=0)
        assert len(calls) == 2
    finally:
        await stop_bot(bot)


async def _set(event: asyncio.Event) -> None:
    event.set()


@pytest.mark.asyncio
async def test_a_forget_running_in_another_process_stops_capture_from_its_first_moment(workspace):
    bot = await start_bot(workspace, ScriptedEngine("ok"), settings={"capture": True})
    try:
        await allow_channel(bot, dpytest.get_config().channels[0])
        person = dpytest.get_config().members[0]
        await dpytest.message("an early line that forget must delete", member=0)
        await bot.settle()
        gate = workspace.root.parent / "forget-gate"
        env = dict(os.environ, DPS_PAUSE_AT=f"forget.recorded={gate}")
        job = subprocess.Popen([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace.root),
                                "personas", "forget", str(person.id), "--yes", "--json"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reached = gate.with_name("forget-gate.reached")
        for _ in range(600):
            if reached.exists() or job.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert reached.exists(), job.communicate()
        assert person.id not in bot.options["opted_out"]  # the bot has not even re-read consent yet
        await dpytest.message("a line written while the forget runs", member=0)
        await bot.settle()
        assert bot.writer.stats.withheld == 1              # refused inside the write: consent was recorded first
        gate.with_name("forget-gate.go").write_text("go", encoding="utf-8")
        out, err = await asyncio.to_thread(job.communicate, timeout=120)
        assert job.returncode == 0, err
        assert json.loads(out)["messages_deleted"] == 1
        count = bot.conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (person.id,)).fetchone()[0]
        assert count == 0
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_an_opted_out_person_is_never_the_bots_persona(workspace):
    engine = ScriptedEngine("as someone")
    bot = await start_bot(workspace, engine)
    try:
        admin = dpytest.get_config().members[0]
        bot_settings.set_value(bot.conn, "admin_ids", [admin.id])
        from storage.consent import set_opted_out
        set_opted_out(bot.conn, PERSONA_ID, True)
        bot.refresh_settings()
        await dpytest.message(f"<@{bot.user.id}> hello", member=1)
        assert engine.prompts == [] and any("opted out and cannot be a persona" in line for line in bot.stats.notices)
        sent_messages()
        await dpytest.message(f"!persona {PERSONA_ID}", member=0)
        assert "opted out and cannot be a persona" in sent_messages()[0].content
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_reply_in_general_never_recalls_what_was_said_in_staff(workspace, monkeypatch):
    overwrite_types_as_discord_sends_them(monkeypatch)
    engine = ScriptedEngine("sure")
    bot, memory = await memory_bot(workspace, engine, members=("Alice", "Bob"))
    try:
        config = dpytest.get_config()
        guild, general = config.guilds[0], config.channels[0]
        staff = dpytest.backend.make_text_channel("staff", guild)
        role = dpytest.backend.make_role("staff", guild)
        alice = config.members[0]
        await dpytest.add_role(alice, role)
        await dpytest.set_permission_overrides(guild.default_role, staff, read_messages=False)
        await dpytest.set_permission_overrides(role, staff, read_messages=True, read_message_history=True)
        await dpytest.set_permission_overrides(guild.me, staff, read_messages=True, read_message_history=True)
        await dpytest.run_all_events()
        events = dpytest.backend.make_text_channel("events", guild)
        await allow_channel(bot, staff)
        await allow_channel(bot, events)
        await dpytest.message("the staff password hint is heron-basalt-42", channel=staff, member=alice)
        await dpytest.message("the public picnic is at heron lake", channel=events, member=alice)
        await bot.settle()
        assert folder_has(workspace, "heron-basalt-42")
        await dpytest.message(f"<@{bot.user.id}> what about heron-basalt-42 and heron lake?", channel=general,
                              member=alice)
        prompt = engine.prompts[-1][0]["content"]
        assert "the public picnic is at heron lake" in prompt      # recalled from #events: everyone reads it
        assert "the staff password hint" not in prompt
        await dpytest.message(f"<@{bot.user.id}> and the picnic?", channel=staff, member=alice)
        assert "the public picnic is at heron lake" in engine.prompts[-1][0]["content"]  # #staff may recall #events
    finally:
        await stop_bot(bot)
