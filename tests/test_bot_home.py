"""The bot keeps to its home server, answers privately, and never speaks as a persona in a DM (dpytest's Discord).

Two guilds: guild 0 is home (``home_guild_ids``), guild 1 is someone else's server that added the bot. There the
bot generates nothing, changes nothing, stores nothing, and says once (ever) that it serves another server. ``!``
commands answer by DM (a self-deleting reply when DMs are closed) and their message is deleted where the bot may.
``reload`` loads only models of the workspace and says the same words for every other path, existing or not.
"""
from __future__ import annotations

import asyncio

import discord
import discord.ext.test as dpytest
import pytest

from bot_controller.bot.admin import MODEL_REFUSED
from bot_controller.bot.runtime import DM_LINE
from bot_controller.bot.servers import AWAY_LINE
from storage import bot_settings
from tests.bot_harness import ScriptedEngine, allow_channel, sent_messages, start_bot, stop_bot


def config():
    return dpytest.get_config()


def channel_of(guild_index: int):
    guild = config().guilds[guild_index]
    return next(channel for channel in config().channels if channel.guild == guild and
                isinstance(channel, discord.TextChannel))


def member_of(guild_index: int, number: int = 0):
    guild = config().guilds[guild_index]
    return [member for member in config().members if member.guild == guild][number]


async def give_role(guild_index: int, member, **permissions):
    guild = config().guilds[guild_index]
    role = dpytest.backend.make_role("power", guild, permissions=discord.Permissions(**permissions).value)
    await dpytest.add_role(member, role)
    return role


@pytest.mark.asyncio
async def test_outside_the_home_server_the_bot_answers_changes_and_stores_nothing_and_says_so_once(workspace):
    engine = ScriptedEngine("a persona reply")
    bot = await start_bot(workspace, engine, guilds=2, settings={"capture": True, "rate": 1.0})
    try:
        away, stranger = channel_of(1), member_of(1)
        await give_role(1, stranger, manage_guild=True)  # the other server's owner
        await dpytest.message(f"<@{bot.user.id}> hello there", channel=away, member=stranger)
        assert [m.content for m in sent_messages()] == [AWAY_LINE]
        await dpytest.message(f"<@{bot.user.id}> hello again", channel=away, member=stranger)
        await dpytest.message("!setrate 0.9", channel=away, member=stranger)
        await dpytest.message("!allow", channel=away, member=stranger)
        await dpytest.message("!reload /etc/passwd", channel=away, member=stranger)
        await dpytest.message("!status", channel=away, member=stranger)
        await asyncio.sleep(0.2)
        assert sent_messages() == []                       # said once, then silence
        assert engine.prompts == []                        # nothing generated
        assert bot.settings.rate == 1.0 and away.id not in bot.settings.allowlist
        stored = bot.conn.execute("SELECT COUNT(*) FROM messages WHERE channel_id = ?", (away.id,)).fetchone()[0]
        assert stored == 0
        await dpytest.message(f"<@{bot.user.id}> hi from home", channel=channel_of(0), member=member_of(0))
        assert [m.content for m in sent_messages()] == ["a persona reply"]  # home still works
        noted = bot.conn.execute("SELECT guild_id FROM bot_guild_notices").fetchall()
        assert noted == [(away.guild.id,)]  # remembered in SQLite: a restart does not say it again
    finally:
        await stop_bot(bot)


def test_the_away_notice_is_due_once_per_server_across_connections(workspace):
    from bot_controller.bot.servers import note_away_guild
    first, second = workspace.connect(), workspace.connect()
    assert note_away_guild(first, 42) is True and note_away_guild(first, 42) is False
    assert note_away_guild(second, 42) is False and note_away_guild(second, 43) is True
    first.close()
    second.close()


@pytest.mark.asyncio
async def test_manage_server_counts_only_in_the_home_server_and_answers_reach_only_the_caller(workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), guilds=2)
    try:
        home, admin = channel_of(0), member_of(0)
        await dpytest.message("!setrate 0.5", channel=home, member=admin)
        refusal = sent_messages()
        assert len(refusal) == 1 and refusal[0].content.startswith("only managers")
        assert isinstance(refusal[0].channel, discord.DMChannel)   # to the caller, not in #home
        await give_role(0, admin, manage_guild=True)
        await dpytest.message("!setrate 0.5", channel=home, member=admin)
        answer = sent_messages()
        assert [m.content for m in answer] == ["rate = 0.5"] and isinstance(answer[0].channel, discord.DMChannel)
        assert bot.settings.rate == 0.5
        await dpytest.message("!status", channel=home, member=admin)
        status = sent_messages()
        assert len(status) == 1 and "uptime" in status[0].content and isinstance(status[0].channel,
                                                                                discord.DMChannel)
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_bang_command_is_deleted_where_the_bot_may_and_closed_dms_get_a_self_deleting_reply(workspace,
                                                                                                   monkeypatch):
    monkeypatch.setattr("bot_controller.bot.private.FALLBACK_SECONDS", 0.1)
    bot = await start_bot(workspace, ScriptedEngine("hi"))
    try:
        home, caller = channel_of(0), member_of(0)
        await give_role(0, home.guild.me, manage_messages=True, send_messages=True, read_messages=True)
        deleted, sends = [], []
        original_delete, original_send = bot.http.delete_message, bot.http.send_message

        async def delete_message(channel_id, message_id, *, reason=None):
            deleted.append(message_id)
            self = discord.utils.get(bot.cached_messages, id=message_id)  # noqa: F841 dpytest reads its caller's self
            return await original_delete(channel_id, message_id, reason=reason)

        async def send_message(channel_id, *, params):
            sends.append(channel_id)
            channel = bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)  # noqa: F841 dpytest
            if channel_id != home.id:
                raise discord.Forbidden(type("R", (), {"status": 403, "reason": "Forbidden"})(),
                                        {"message": "Cannot send messages to this user", "code": 50007})
            return await original_send(channel_id, params=params)
        bot.http.delete_message, bot.http.send_message = delete_message, send_message
        invocation = await dpytest.message("!optin", channel=home, member=caller)
        await asyncio.sleep(0.2)
        assert invocation.id in deleted                      # the command leaves no trace in the channel
        fallback = [m for m in sent_messages() if m.channel == home]
        assert [m.content for m in fallback] == ["you are opted in again"]
        await asyncio.sleep(0.3)
        assert fallback[0].id in deleted                     # and the answer deletes itself
        assert bot.stats.errors == 0
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_in_a_dm_there_is_no_persona_only_the_consent_commands(workspace):
    engine = ScriptedEngine("a persona reply")
    bot = await start_bot(workspace, engine)
    try:
        person = member_of(0)
        dm = await person.create_dm()
        await dpytest.message(f"<@{bot.user.id}> talk to me", channel=dm, member=person)
        await dpytest.message("hello?", channel=dm, member=person)
        assert [m.content for m in sent_messages()] == [DM_LINE]   # once an hour, not on every message
        assert engine.prompts == []
        await dpytest.message("!optout", channel=dm, member=person)
        answer = sent_messages()
        assert len(answer) == 1 and answer[0].content.startswith("you are opted out") and answer[0].channel == dm
        from storage.consent import opted_out_ids
        assert person.id in opted_out_ids(bot.conn)
        await dpytest.message("!setrate 1", channel=dm, member=person)
        assert [m.content for m in sent_messages()][0].startswith("only managers")
        assert bot.settings.rate != 1.0
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_reload_loads_only_workspace_models_and_says_the_same_for_any_other_path(workspace, tmp_path):
    loaded = []
    engine = ScriptedEngine("hi")

    def loader(path):
        loaded.append(path)
        return engine
    bot = await start_bot(workspace, engine, engine_loader=loader)
    try:
        admin = member_of(0)
        bot_settings.set_value(bot.conn, "admin_ids", [admin.id])
        bot.refresh_settings()
        outside = tmp_path / "outside.gguf"
        outside.write_bytes(b"GGUF")
        for path in ("/etc/passwd", "/no/such/place/model.gguf", str(outside), "../outside.gguf",
                     str(workspace.root / ".." / "outside.gguf")):
            await dpytest.message(f"!reload {path}", channel=channel_of(0), member=admin)
            assert [m.content for m in sent_messages()] == [MODEL_REFUSED], path
        inside = workspace.models_dir / "other.gguf"
        inside.parent.mkdir(parents=True, exist_ok=True)
        inside.write_bytes(b"GGUF")
        before = len(loaded)
        await dpytest.message("!reload models/other.gguf", channel=channel_of(0), member=admin)
        assert sent_messages()[0].content.startswith("loaded other.gguf")
        assert loaded[before:] == [inside.resolve()]
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_allowlisting_a_channel_makes_its_server_home(workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), guilds=2, home=None)
    try:
        assert bot.settings.home_guild_ids == ()
        await allow_channel(bot, channel_of(1))
        assert bot.settings.home_guild_ids == (config().guilds[1].id,)
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_with_no_persona_chosen_the_first_mention_is_answered_as_the_models_top_persona(workspace):
    from bot_controller.bot.main import details_of
    from storage.messages import write_batch
    from storage.rows import ChannelRow, MessageBatch, MessageRow, UserRow
    conn = workspace.connect()
    rows = [MessageRow(9000 + n, 4242, 777 if n < 5 else 778, f"2024-01-01T00:0{n}:00+00:00", None, "Default",
                       f"line {n}") for n in range(7)]
    write_batch(conn, MessageBatch(channels={4242: ChannelRow(4242, None, "GuildTextChat", "old")}, messages=rows,
                                   users={777: UserRow(777, "wren", "Wren", False),
                                          778: UserRow(778, "ash", "Ash", False)}))
    conn.close()
    engine = ScriptedEngine("hey, Wren here")
    bot = await start_bot(workspace, engine, settings={"persona_id": None})
    try:
        await dpytest.message(f"<@{bot.user.id}> what's up?", channel=channel_of(0), member=member_of(0))
        assert [m.content for m in sent_messages()] == ["hey, Wren here"]
        assert engine.prompts[0][0]["content"].startswith("You are Wren")
        details = details_of(bot)["persona"]
        assert details["name"] == "Wren" and details["automatic"] is True and details["why"].startswith("the most messages")
        admin = member_of(0)
        bot_settings.set_value(bot.conn, "admin_ids", [admin.id])
        bot.refresh_settings()
        await dpytest.message("!status", channel=channel_of(0), member=admin)
        status = sent_messages()[0].content
        assert "no persona is chosen, so the bot answers as Wren" in status and "/persona NAME default" in status
    finally:
        await stop_bot(bot)
