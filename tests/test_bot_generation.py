"""The real SmolLM2 GGUF through the bot on dpytest: a reply comes, with a typing indicator, and the event loop is
never blocked while the model generates (a 50 ms ticker's worst lag stays small)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import discord.ext.test as dpytest
import pytest

from bot_controller.bot.model_host import load_engine
from tests.bot_harness import record_sends, start_bot, stop_bot

GGUF = Path(__file__).resolve().parents[1] / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TICK = 0.05
MAX_LAG = 0.1


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + TICK
        await asyncio.sleep(TICK)
        lags.append(loop.time() - planned)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_real_gguf_reply_never_blocks_the_event_loop(workspace):
    pytest.importorskip("llama_cpp")
    if not GGUF.is_file():
        pytest.skip(f"{GGUF} is not installed yet (install.py fetches it)")
    bot = await start_bot(workspace, None, engine_loader=load_engine,
                          settings={"model_path": str(GGUF), "max_tokens": 64, "temperature": 0.7})
    try:
        assert bot.pipeline is not None, bot.stats.model_error
        typing = []
        original = bot.http.send_typing

        async def send_typing(channel_id):
            typing.append(channel_id)
            return await original(channel_id)
        bot.http.send_typing = send_typing
        sent = record_sends(bot)
        lags: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(lags, stop))
        started = time.perf_counter()
        await dpytest.message(f"<@{bot.user.id}> hey, what are you up to tonight?")
        while bot.stats.replies + bot.stats.dropped == 0 and time.perf_counter() - started < 120:
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        stop.set()
        await task
        assert bot.stats.errors == 0, list(bot.stats.notices)
        assert bot.stats.replies == 1, f"dropped: {bot.stats.dropped}"
        assert sent and sent[0]["content"].strip() and sent[0]["allowed_mentions"]["parse"] == []
        assert typing, "no typing indicator while generating"
        assert seconds > 5 * TICK and len(lags) >= 5   # the ticker ran through the generation
        print(f"reply after {seconds:.1f} s, max lag {max(lags) * 1000:.0f} ms over {len(lags)} ticks")
        assert max(lags) < MAX_LAG, f"event loop blocked for {max(lags) * 1000:.0f} ms during generation"
    finally:
        await stop_bot(bot)
