"""Replies per day (storage.bot_stats, migration 0007) written by the bot as it answers, and the bot's gpu_layers
setting reaching the engine's load; both through real SQLite and the bot on dpytest's fake Discord."""
from __future__ import annotations

import discord.ext.test as dpytest
import pytest

from storage import bot_settings, bot_stats
from tests.bot_harness import ScriptedEngine, start_bot, stop_bot


def test_replies_are_counted_per_day_in_sqlite(workspace):
    conn = workspace.connect()
    try:
        assert bot_stats.replies_on(conn) == 0
        assert bot_stats.record_reply(conn, "2026-01-02") == 1
        assert bot_stats.record_reply(conn, "2026-01-02") == 2
        assert bot_stats.record_reply(conn, "2026-01-03", count=3) == 3
        assert bot_stats.replies_on(conn, "2026-01-02") == 2 and bot_stats.replies_on(conn, "2026-01-01") == 0
        assert bot_stats.recent(conn) == [("2026-01-03", 3), ("2026-01-02", 2)]
        bot_stats.record_reply(conn)
        assert bot_stats.replies_on(conn) == 1  # today is its own day
    finally:
        conn.close()
    again = workspace.connect()  # committed: another connection (the panel's) reads it
    try:
        assert bot_stats.replies_on(again, "2026-01-02") == 2
    finally:
        again.close()


@pytest.mark.asyncio
async def test_the_bot_counts_each_reply_it_sends_in_todays_row(workspace):
    bot = await start_bot(workspace, ScriptedEngine("one", "two"))
    try:
        for text in ("hi", "again"):
            await dpytest.message(f"<@{bot.user.id}> {text}")
            dpytest.get_message()
        assert bot.stats.replies == 2
        await bot.settle()  # the count is written by the bot's writer thread
        reader = workspace.connect()
        try:
            assert bot_stats.replies_on(reader) == 2
        finally:
            reader.close()
    finally:
        await stop_bot(bot)


def test_gpu_layers_is_a_validated_bot_setting(workspace):
    assert bot_settings.coerce("gpu_layers", "0") == 0 and bot_settings.coerce("gpu_layers", -1) == -1
    for bad in (-2, "all", 1.5):
        with pytest.raises(bot_settings.BotSettingsError, match="gpu_layers"):
            bot_settings.coerce("gpu_layers", bad)
    conn = workspace.connect()
    try:
        assert bot_settings.load(conn).gpu_layers == -1
        bot_settings.set_value(conn, "gpu_layers", 12)
        assert bot_settings.load(conn).gpu_layers == 12
    finally:
        conn.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("layers, passed", [(0, {"gpu_layers": 0}), (7, {"gpu_layers": 7}), (-1, {})])
async def test_the_bot_loads_its_model_with_the_gpu_layers_setting(workspace, layers, passed):
    loads = []
    engine = ScriptedEngine("ok")

    def loader(path, **options):
        loads.append(options)
        return engine

    bot = await start_bot(workspace, engine, settings={"gpu_layers": layers}, engine_loader=loader)
    try:
        assert loads == [passed]  # -1 is the engine's own default ("all that fit")
    finally:
        await stop_bot(bot)


def test_the_default_loader_hands_gpu_layers_to_the_engine(monkeypatch, tmp_path):
    from bot_controller.bot import model_host
    from model import inference
    calls = []
    monkeypatch.setattr(inference.ReplyEngine, "load", classmethod(lambda cls, path, **kw: calls.append((path, kw))))
    model_host.load_engine(tmp_path / "m.gguf", gpu_layers=3)
    model_host.load_engine(tmp_path / "m.gguf")
    assert calls == [(tmp_path / "m.gguf", {"gpu_layers": 3}), (tmp_path / "m.gguf", {"gpu_layers": -1})]
