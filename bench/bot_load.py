"""Load benchmark of the bot's ``on_message`` path: a busy server at full speed, and the same during a big forget.

    python bench/bot_load.py [--rate 100] [--seconds 120] [--scenario steady|forget|both] [--baseline]

The bot is the real ``PersonaBot`` on a real workspace: capture and memory on, a real SQLite file, a real LanceDB
memory folder with the real all-MiniLM-L6-v2 embedder (``LiveMemory``). Discord's gateway is dpytest's: each
message is parsed by discord.py's own ``ConnectionState.parse_message_create`` on the bot's event loop and
dispatched to the bot's listeners (the capture cog, ``on_message``), as a gateway event would be. Nobody mentions
the bot (``mentions_only``), so no reply is generated: this measures what every message costs.

Figures: messages sent and their rate, messages lost (sent, yet not in SQLite once the writer drained: must be 0),
event-loop lag p50/p99/max (a 10 ms ticker's lateness), heartbeats (a beat every ``HEARTBEAT_SECONDS`` on the loop,
as the bot child sends them: a gap over twice the interval counts as missed), the writer's transactions and the
memory rows added. ``forget``: the workspace also holds a member with 10,000 messages (in SQLite, the memory folder
and a prepared dataset); ten seconds in, they send ``!forget-me`` and the bot runs its real forget while the load
goes on. Targets: steady 100 msg/s for 2 min with lag p99 <= 50 ms and 0 lost; during the forget lag p99 <= 100 ms
and no heartbeat missed. ``--baseline`` runs each scenario a second time with the bot as it was before (each capture
written by ``write_batch`` on the event loop, memory added per message, the forget in a thread of the bot) and
prints both side by side. Figures also go to bench/out/bot_load-<scenario>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT_DIR = ROOT / "bench" / "out"
HEARTBEAT_SECONDS = 5.0
TICK = 0.01
BIG_MEMBER_MESSAGES = 10_000
FORGET_AT = 10.0
TARGETS = {"steady": {"lag_p99_ms": 50.0}, "forget": {"lag_p99_ms": 100.0}}
WORDS = ("quokka lantern garden kayak walnut bread teal morning cricket final campsite laptop fan grinding bakery "
         "corner train leeds late again garage door blue painted soup recipe river bike tyre rain").split()


class QuietEngine:
    """The bot needs a loaded model for its memory to open; nobody is answered, so it never generates."""
    n_ctx, end_tokens, gpu_layers = 2048, ["<|im_end|>"], 0

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def prompt_tokens(self, messages) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def generate(self, *args, **kwargs):
        raise AssertionError("the load bench never asks for a reply")

    def close(self) -> None:
        pass


def valid_snowflakes() -> None:
    """dpytest 0.7 puts a plain counter of every id it ever made into a snowflake's 12 increment bits: past 16,384
    ids the numbers no longer fit SQLite's 64-bit integers. Ids as Discord makes them: the millisecond, then a
    4,096-wide increment (unique: far fewer than 4,096 ids a millisecond here)."""
    import itertools
    from discord.ext.test import factories
    from discord.utils import DISCORD_EPOCH
    counter, last = itertools.count(), [0]

    def make_id() -> int:
        moment = int(time.time() * 1000) - DISCORD_EPOCH
        found = max((moment << 22) | (1 << 17) | (next(counter) % 4096), last[0] + 1)
        last[0] = found
        return found
    factories.make_id = make_id


def sentence(number: int) -> str:
    picked = [WORDS[(number * 7 + step * 13) % len(WORDS)] for step in range(6 + number % 9)]
    return f"{' '.join(picked)} #{number}"


def seed_big_member(workspace, member_id: int, guild, channel) -> None:
    """10,000 messages of one member in SQLite, their rows in the memory (random vectors: embedding 10k texts would
    only slow the setup) and a prepared dataset: what a forget must clean."""
    import numpy as np
    from bot_controller.bot.discord_rows import channel_batch
    from core.config.app_config import load_config
    from core.dataset.pipeline import prepare_dataset
    from storage.memory import MemoryRow, MemoryStore
    from storage.messages import write_batch
    from storage.rows import MessageBatch, MessageRow, UserRow
    conn = workspace.connect()
    start = 1_200_000_000_000_000_000
    rows = [MessageRow(start + n, channel.id, member_id if n % 2 == 0 else member_id + 1,
                       f"2024-01-01T00:{(n // 60) % 60:02d}:{n % 60:02d}+00:00", None, "Default",
                       f"big member line {sentence(n)}") for n in range(2 * BIG_MEMBER_MESSAGES)]
    batch = channel_batch(channel, MessageBatch(messages=rows))
    batch.users[member_id] = UserRow(member_id, "bigtalker", "Big Talker", False)
    batch.users[member_id + 1] = UserRow(member_id + 1, "other", "Other", False)
    write_batch(conn, batch)
    store = MemoryStore(workspace.memory_dir, 384)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(rows), 384)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.add([MemoryRow(row.id, row.channel_id, row.author_id, row.created_at, row.content, vector)
               for row, vector in zip(rows, vectors)])
    config = load_config(workspace.config_path).dataset
    prepare_dataset(conn, config, workspace.datasets_dir / "bench", personas="all")
    conn.close()


async def start_bot(workspace, members: int, baseline: bool):
    import discord
    import discord.ext.test as dpytest
    from bot_controller.bot.runtime import PersonaBot
    from storage import bot_settings
    conn = workspace.connect()
    for key, value in (("capture", True), ("memory", True), ("mentions_only", True),
                       ("model_path", str(workspace.models_dir / "quiet.gguf"))):
        bot_settings.set_value(conn, key, value)
    conn.close()
    intents = discord.Intents.default()
    intents.message_content = intents.members = True
    bot = PersonaBot(workspace, engine_loader=lambda path: QuietEngine(), intents=intents)
    await bot._async_setup_hook()
    dpytest.configure(bot, members=[f"member{n}" for n in range(members)])
    bot._connection.loop = asyncio.get_running_loop()
    config = dpytest.get_config()
    conn = workspace.connect()
    bot_settings.set_value(conn, "home_guild_ids", [config.guilds[0].id])
    conn.close()
    await bot.setup_hook()
    from bot_controller.bot.admin import allow_channel
    await bot.writer.call(allow_channel, config.channels[0], True)
    bot.refresh_settings()
    await bot.open_memory_when_wanted()
    if baseline:
        make_baseline(bot)
    return bot, config


def make_baseline(bot) -> None:
    """The bot as it was before its writer thread: each capture written by ``write_batch`` on the event loop, its
    memory add awaited per message, and ``!forget-me`` run by ``core.consent.actions`` in a thread of the bot."""
    from bot_controller.bot import consent_cog
    from bot_controller.bot.discord_rows import capture_batch, memory_message
    from storage.messages import write_batch
    cog = bot.get_cog("CaptureCog")

    async def on_message(message) -> None:
        if not cog.capturing(message.channel):
            return
        batch = capture_batch(message, bot.options["opted_out"])
        if batch is None:
            return
        write_batch(bot.conn, batch)
        memory = bot.live_memory()
        if memory is not None:
            await bot.worker.run(memory.add_messages, [memory_message(message)])
    cog.on_message = on_message  # the listener discord.py dispatches to is looked up on the cog

    def in_process(workspace, action: str, user_id: int) -> dict:
        from core.consent import actions
        conn = workspace.connect()
        try:
            return actions.forget(conn, workspace.root, user_id)
        finally:
            conn.close()
    consent_cog.run_consent = in_process


class LoopWatch:
    """Lateness of a 10 ms ticker and of a heartbeat every HEARTBEAT_SECONDS, both on the event loop."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.beats: list[float] = []

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            self.lags.append(max(0.0, loop.time() - expected))

    async def heartbeat(self) -> None:
        while True:
            self.beats.append(time.monotonic())
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def figures(self) -> dict:
        lags = sorted(self.lags) or [0.0]
        gaps = [b - a for a, b in zip(self.beats, self.beats[1:])]
        return {"lag_p50_ms": round(1000 * lags[len(lags) // 2], 2),
                "lag_p99_ms": round(1000 * lags[min(len(lags) - 1, int(len(lags) * 0.99))], 2),
                "lag_max_ms": round(1000 * lags[-1], 2), "heartbeats": len(self.beats),
                "heartbeat_gap_max_s": round(max(gaps, default=0.0), 2),
                "heartbeats_missed": sum(1 for gap in gaps if gap > 2 * HEARTBEAT_SECONDS)}


async def scenario(workspace, name: str, rate: float, seconds: float, baseline: bool, members: int = 40) -> dict:
    import discord.ext.test as dpytest
    from discord.ext.test import backend
    valid_snowflakes()
    bot, config = await start_bot(workspace, members, baseline)
    channel = config.channels[0]
    talkers = config.members
    big = None
    if name == "forget":
        big = talkers[0]
        seed_big_member(workspace, big.id, config.guilds[0], channel)
        bot.refresh_settings()
        talkers = talkers[1:]
    watch = LoopWatch()
    tasks = [asyncio.create_task(watch.tick()), asyncio.create_task(watch.heartbeat())]
    loop = asyncio.get_running_loop()
    started, sent, forget_task, forget_seconds = loop.time(), [], None, None

    async def timed(command) -> float:
        began = loop.time()
        await command
        return loop.time() - began
    total = int(rate * seconds)
    for number in range(total):
        due = started + number / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        message = backend.make_message(sentence(number), talkers[number % len(talkers)], channel)
        sent.append(message.id)
        if big is not None and forget_task is None and loop.time() - started >= FORGET_AT:
            forget_task = asyncio.create_task(timed(dpytest.message("!forget-me", channel=channel, member=big)))
    elapsed = loop.time() - started
    if forget_task is not None:
        forget_seconds = round(await forget_task, 1)
    for task in tasks:
        task.cancel()
    drain_started = loop.time()
    await bot.settle()
    drained = loop.time() - drain_started
    stored = count_stored(bot.conn, sent)
    result = {"scenario": name, "baseline": baseline, "rate_target": rate, "seconds": round(elapsed, 1),
              "sent": len(sent), "rate_sustained": round(len(sent) / elapsed, 1), "lost": len(sent) - stored,
              "drain_seconds": round(drained, 2), **watch.figures(),
              "writer": vars(bot.writer.stats).copy() if bot.writer is not None and not baseline else None,
              "memory_rows": bot.live_memory().store.count() if bot.live_memory() is not None else None}
    if big is not None:
        left = bot.conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (big.id,)).fetchone()[0]
        result.update(forget_seconds=forget_seconds, big_member_rows_left=left)
    await dpytest.empty_queue()
    await bot.shutdown()
    return result


def count_stored(conn, ids: list[int]) -> int:
    found = 0
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        found += conn.execute(f"SELECT COUNT(*) FROM messages WHERE id IN ({','.join('?' * len(chunk))})",
                              chunk).fetchone()[0]
    return found


def run(name: str, rate: float, seconds: float, baseline: bool) -> dict:
    from core.config.workspace import Workspace
    with tempfile.TemporaryDirectory(prefix="dps-bot-load-") as folder:
        workspace = Workspace.open(Path(folder) / "ws")
        workspace.models_dir.mkdir(parents=True, exist_ok=True)
        (workspace.models_dir / "quiet.gguf").write_bytes(b"GGUF")
        return asyncio.run(scenario(workspace, name, rate, seconds, baseline))


def line(result: dict) -> str:
    target = TARGETS[result["scenario"]]["lag_p99_ms"]
    verdict = "met" if result["lost"] == 0 and result["lag_p99_ms"] <= target and result["heartbeats_missed"] == 0 \
        else "MISSED"
    text = (f"{result['scenario']}{' (baseline)' if result['baseline'] else ''}: {result['sent']} messages in "
            f"{result['seconds']} s = {result['rate_sustained']} msg/s; lost {result['lost']}; lag p50 "
            f"{result['lag_p50_ms']} ms, p99 {result['lag_p99_ms']} ms (target {target:g}), max "
            f"{result['lag_max_ms']} ms; heartbeats {result['heartbeats']}, missed {result['heartbeats_missed']}, "
            f"longest gap {result['heartbeat_gap_max_s']} s; drained in {result['drain_seconds']} s; memory rows "
            f"{result['memory_rows']}")
    if "forget_seconds" in result:
        text += f"; forget took {result['forget_seconds']} s, their rows left {result['big_member_rows_left']}"
    return text + ("" if result["baseline"] else f"  [{verdict}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--scenario", choices=("steady", "forget", "both"), default="both")
    parser.add_argument("--baseline", action="store_true",
                        help="also run each scenario on the old paths (SQLite on the loop, forget in a thread)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(f"bot load: {args.rate:g} msg/s for {args.seconds:g} s, load average {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for name in (("steady", "forget") if args.scenario == "both" else (args.scenario,)):
        results.append(run(name, args.rate, args.seconds, baseline=False))
        print(line(results[-1]), flush=True)
        (OUT_DIR / f"bot_load-{name}.json").write_text(json.dumps(results[-1], indent=2) + "\n", encoding="utf-8")
    if args.baseline:
        for new in list(results):
            old = run(new["scenario"], args.rate, args.seconds, baseline=True)
            print(line(old), flush=True)
            lag = new["lag_p99_ms"] / max(old["lag_p99_ms"], 1e-9)
            worst = new["lag_max_ms"] / max(old["lag_max_ms"], 1e-9)
            print(f"{new['scenario']}, now / before: lag p99 {lag:.2f}x, lag max {worst:.2f}x, lost {new['lost']} / "
                  f"{old['lost']}", flush=True)
            (OUT_DIR / f"bot_load-{new['scenario']}-baseline.json").write_text(json.dumps(old, indent=2) + "\n",
                                                                               encoding="utf-8")
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    return 0 if all(r["lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
