"""The bot end to end on dpytest's fake Discord: replies to mentions, no pings, splitting, commands, settings."""
from __future__ import annotations

import asyncio

import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from bot_controller.bot.sending import NO_PINGS
from storage import bot_settings
from tests.bot_harness import PERSONA_NAME, ScriptedEngine, allow_channel, record_sends, start_bot, stop_bot


@pytest_asyncio.fixture
async def engine():
    return ScriptedEngine("sure thing")


@pytest_asyncio.fixture
async def bot(workspace, engine):
    bot = await start_bot(workspace, engine)
    yield bot
    await stop_bot(bot)


def config():
    return dpytest.get_config()


async def mention(bot, text: str, member: int = 0):
    return await dpytest.message(f"<@{bot.user.id}> {text}", member=member)


@pytest.mark.asyncio
async def test_a_mention_gets_the_personas_reply_as_a_reply_without_pings(bot, engine):
    sent = record_sends(bot)
    await mention(bot, "what's up?")
    reply = dpytest.get_message()
    assert reply.content == "sure thing"
    assert sent[0]["allowed_mentions"] == {"parse": [], "replied_user": False}
    prompt = engine.prompts[0]
    assert prompt[0]["role"] == "system" and prompt[0]["content"].startswith(f"You are {PERSONA_NAME}")
    assert prompt[-1]["role"] == "user" and f"@{PERSONA_NAME} what's up?" in prompt[-1]["content"]
    assert bot.stats.replies == 1


@pytest.mark.asyncio
async def test_generated_everyone_role_and_user_mentions_never_ping(workspace):
    engine = ScriptedEngine()
    bot = await start_bot(workspace, engine)
    try:
        guild, member = config().guilds[0], config().members[1]
        role = dpytest.backend.make_role("mods", guild, mentionable=True)
        engine.replies = [f"@everyone <@&{role.id}> <@{member.id}> @here"]  # a real role and member to ping
        sent = record_sends(bot)
        await mention(bot, "say something loud")
        assert dpytest.get_message().content.startswith("@everyone")
        assert sent and all(payload["allowed_mentions"]["parse"] == [] for payload in sent)
        assert all(not payload["allowed_mentions"].get("replied_user") for payload in sent)
        assert "users" not in sent[0]["allowed_mentions"] and "roles" not in sent[0]["allowed_mentions"]
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_long_reply_is_split_under_2000_characters(workspace):
    long_text = " ".join(f"Sentence number {n} is here." for n in range(200))
    bot = await start_bot(workspace, ScriptedEngine(long_text), settings={"max_tokens": 1000})
    try:
        sent = record_sends(bot)
        await mention(bot, "tell me everything")
        parts = [payload["content"] for payload in sent]
        assert len(parts) >= 3 and all(len(part) <= 2000 for part in parts)
        assert " ".join(parts) == long_text
        assert all(payload["allowed_mentions"]["parse"] == [] for payload in sent)
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_blocklisted_replies_are_regenerated_then_dropped(workspace):
    engine = ScriptedEngine("that is darn bad", "still darn")
    bot = await start_bot(workspace, engine, settings={"blocklist": ["darn"]})
    try:
        await mention(bot, "hi")
        assert dpytest.verify().message().nothing()
        assert len(engine.prompts) == 2 and bot.stats.dropped == 1
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_other_bots_and_unaddressed_messages_outside_the_allowlist_are_ignored(bot, engine):
    await dpytest.message("hello everyone")
    assert dpytest.verify().message().nothing()
    assert engine.prompts == []


@pytest.mark.asyncio
async def test_rate_one_answers_unaddressed_messages_in_an_allowlisted_channel(bot, engine):
    bot_settings.set_value(bot.conn, "rate", 1.0)
    bot_settings.set_value(bot.conn, "cooldown_seconds", 0.0)
    await allow_channel(bot, config().channels[0])
    await dpytest.message("hello everyone")
    assert dpytest.get_message().content == "sure thing"


@pytest.mark.asyncio
async def test_admin_commands_refuse_non_admins_and_change_settings_for_admins(bot):
    await dpytest.message("!setrate 0.5")
    assert dpytest.get_message().content.startswith("only managers of this bot")
    member = config().members[0]
    bot_settings.set_value(bot.conn, "admin_ids", [member.id])
    bot.refresh_settings()
    await dpytest.message("!setrate 0.5")
    assert dpytest.get_message().content == "rate = 0.5"
    assert bot.settings.rate == 0.5 and bot_settings.load(bot.conn).rate == 0.5
    await dpytest.message("!settemp 3")
    assert "outside" in dpytest.get_message().content and bot.settings.temperature == 0.7
    await dpytest.message("!setmaxlen 40")
    assert dpytest.get_message().content == "max_tokens = 40" and bot.pipeline.settings.max_tokens == 40
    await dpytest.message("!status")
    status = dpytest.get_message().content
    assert "uptime" in status and "model fake.gguf" in status and f"persona {PERSONA_NAME}" in status
    assert "messages seen" in status and "VRAM: not used (CPU)" in status


@pytest.mark.asyncio
async def test_persona_allow_and_deny_commands(bot):
    member = config().members[0]
    bot_settings.set_value(bot.conn, "admin_ids", [member.id])
    bot.refresh_settings()
    await dpytest.message("!persona nobody")
    assert "no user named 'nobody'" in dpytest.get_message().content
    await dpytest.message(f"!persona {PERSONA_NAME}")
    assert dpytest.get_message().content == f"persona here: {PERSONA_NAME}"
    channel = config().channels[0]
    await dpytest.message("!allow")
    assert "is allowlisted" in dpytest.get_message().content and channel.id in bot.settings.allowlist
    await dpytest.message("!deny")
    assert "no longer" in dpytest.get_message().content and channel.id not in bot.settings.allowlist


@pytest.mark.asyncio
async def test_a_setting_changed_in_sqlite_reaches_the_running_bot_within_a_second(bot, workspace):
    other = workspace.connect()  # the panel's own connection
    bot_settings.set_value(other, "temperature", 1.3)
    other.close()
    deadline = asyncio.get_running_loop().time() + 1.0
    while bot.settings.temperature != 1.3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert bot.settings.temperature == 1.3 and bot.pipeline.settings.temperature == 1.3


@pytest.mark.asyncio
async def test_optout_and_optin_act_on_the_caller_only(bot):
    member = config().members[0]
    await dpytest.message("!optout", member=0)
    assert dpytest.get_message().content.startswith("you are opted out")
    assert member.id in bot.options["opted_out"] and config().members[1].id not in bot.options["opted_out"]
    await dpytest.message("!optin", member=0)
    assert dpytest.get_message().content == "you are opted in again" and member.id not in bot.options["opted_out"]


class SlashContext:
    """What a hybrid command's callback gets from a slash interaction: sends with ``ephemeral`` honoured."""

    def __init__(self, author, channel):
        self.author, self.channel, self.sent = author, channel, []
        self.guild, self.interaction = getattr(channel, "guild", None), object()

    async def send(self, content, **kwargs):
        self.sent.append((content, kwargs))

    async def defer(self, **kwargs):
        pass


@pytest.mark.asyncio
async def test_slash_commands_exist_and_refuse_non_admins_ephemerally(bot):
    names = {command.name for command in bot.tree.get_commands()}
    assert {"status", "setrate", "settemp", "setmaxlen", "persona", "reload", "allow", "deny", "forget-me", "optout",
            "optin"} <= names
    cog = bot.get_cog("AdminCog")
    ctx = SlashContext(config().members[0], config().channels[0])
    await cog.setrate.callback(cog, ctx, 0.3)
    assert ctx.sent == [("only managers of this bot's server (Manage Server) or configured bot admins may do that",
                         {"ephemeral": True, "allowed_mentions": NO_PINGS})]
    assert bot.settings.rate != 0.3
    bot_settings.set_value(bot.conn, "admin_ids", [ctx.author.id])
    bot.refresh_settings()
    await cog.setrate.callback(cog, ctx, 0.3)
    assert ctx.sent[-1] == ("rate = 0.3", {"ephemeral": True, "allowed_mentions": NO_PINGS})
    assert bot.settings.rate == 0.3


@pytest.mark.asyncio
async def test_a_persona_that_does_not_exist_is_one_line_in_status_and_no_reply(bot, engine):
    bot_settings.set_value(bot.conn, "persona_id", 999)
    bot_settings.set_value(bot.conn, "admin_ids", [config().members[0].id])
    bot.refresh_settings()
    await mention(bot, "hello?")
    await mention(bot, "anyone?")
    assert dpytest.verify().message().nothing() and engine.prompts == []
    await dpytest.message("!status")
    status = dpytest.get_message().content
    assert status.count("no user with id 999 in the database") == 1 and "persona none" in status


@pytest.mark.asyncio
async def test_reload_command_swaps_to_a_new_export(bot, workspace):
    bot_settings.set_value(bot.conn, "admin_ids", [config().members[0].id])
    bot.refresh_settings()
    newer = ScriptedEngine("from the new export")
    bot.engine_loader = lambda path: newer if path.name == "new.gguf" else None
    await dpytest.message(f"!reload {workspace.models_dir / 'new.gguf'}")
    assert dpytest.get_message().content.startswith("loaded new.gguf in ")
    await mention(bot, "hi")
    assert dpytest.get_message().content == "from the new export"


@pytest.mark.asyncio
async def test_requests_in_one_channel_are_answered_in_order_one_at_a_time(workspace):
    engine = ScriptedEngine("first answer", "second answer", delay=0.2)
    bot = await start_bot(workspace, engine)
    try:
        sent = record_sends(bot)
        timeline = []

        async def history_read(channel, limit, **kwargs):
            timeline.append(("history", len(sent)))
        dpytest.callbacks.set_callback(history_read, "logs_from")
        channel = config().channels[0]
        first = dpytest.backend.make_message(f"<@{bot.user.id}> one", config().members[0], channel)
        second = dpytest.backend.make_message(f"<@{bot.user.id}> two", config().members[1], channel)
        await dpytest.run_all_events()
        assert [payload["content"] for payload in sent] == ["first answer", "second answer"]
        assert [payload["message_reference"]["message_id"] for payload in sent] == [first.id, second.id]
        # the second request read the channel only after the first reply was posted: one at a time per channel
        assert timeline == [("history", 0), ("history", 1)]
    finally:
        dpytest.callbacks.remove_callback("logs_from")
        await stop_bot(bot)
