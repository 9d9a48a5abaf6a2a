"""The slash-command sync in ``on_ready``, against a local fake of Discord's REST API (not the real gateway: there
is no network here). The bot's own HTTPClient PUTs the guild's commands; the payload is what Discord would get."""
from __future__ import annotations

import logging

import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from tests.bot_harness import ScriptedEngine
from tests.fake_discord_http import APPLICATION_ID, api, dumps, start_real_http_bot, stop_real_http_bot  # noqa: F401

ADMIN = {"status", "setrate", "settemp", "setmaxlen", "persona", "webhook", "reload", "allow", "deny"}
EVERYONE = {"forget-me", "optout", "optin"}
MANAGE_GUILD = 1 << 5  # Discord's Manage Server bit (discord.py sends the integer; Discord takes it or a string)
STRING, INTEGER, BOOLEAN, NUMBER = 3, 4, 5, 10


@pytest_asyncio.fixture
async def bot(workspace, api, monkeypatch):
    bot = await start_real_http_bot(workspace, ScriptedEngine(), api, monkeypatch)
    yield bot
    await stop_real_http_bot(bot, api)


def sync_path(bot, guild_index: int = 0) -> str:
    return f"/applications/{APPLICATION_ID}/guilds/{bot.guilds[guild_index].id}/commands"


async def ready(bot) -> None:
    """What discord.py runs on READY (and on every reconnect): the servers cog syncs the commands."""
    await bot.get_cog("ServersCog").on_ready()


@pytest.mark.asyncio
async def test_on_ready_puts_every_command_to_the_guild_with_manage_server_on_the_admin_ones(bot, api):
    await ready(bot)
    puts = api.requests("PUT", sync_path(bot))
    assert len(puts) == 1, dumps(api.received)
    commands = {command["name"]: command for command in puts[0].body}
    assert set(commands) == ADMIN | EVERYONE
    for name in ADMIN:
        assert int(commands[name]["default_member_permissions"]) == MANAGE_GUILD, commands[name]
    for name in EVERYONE:
        assert commands[name]["default_member_permissions"] is None, commands[name]
    assert all(command["description"] for command in commands.values())

    def options(name):
        return [(o["name"], o["type"], o.get("required", False)) for o in commands[name].get("options", [])]
    assert options("setrate") == [("value", NUMBER, True)] and options("settemp") == [("value", NUMBER, True)]
    assert options("setmaxlen") == [("value", INTEGER, True)]
    assert options("persona") == [("name", STRING, True), ("scope", STRING, False)]
    assert options("webhook") == [("enabled", BOOLEAN, True)] and options("reload") == [("path", STRING, False)]
    assert all(not options(name) for name in ("status", "allow", "deny", *EVERYONE))
    assert not bot.stats.notices


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [403, 503])
async def test_a_failed_sync_is_one_line_and_the_prefix_commands_still_work(bot, api, caplog, status):
    caplog.set_level(logging.INFO)
    api.fail("PUT", sync_path(bot), status, times=None)
    await ready(bot)
    await ready(bot)  # a reconnect syncs again: still one line
    lines = [r.getMessage() for r in caplog.records if r.name == "dps.bot" and "slash commands" in r.getMessage()]
    assert len(lines) == 1 and str(status) in lines[0] and bot.guilds[0].name in lines[0], lines
    assert "!" in lines[0] and "Traceback" not in caplog.text
    from storage import bot_settings
    bot_settings.set_value(bot.conn, "admin_ids", [dpytest.get_config().members[0].id])
    bot.refresh_settings()
    await dpytest.message("!status", member=0)
    sent = api.sent_contents()
    assert len(sent) == 1 and lines[0] in sent[0], dumps(api.received)


@pytest.mark.asyncio
async def test_commands_go_to_the_home_server_are_cleared_elsewhere_and_consent_works_in_dms(workspace, api,
                                                                                            monkeypatch):
    bot = await start_real_http_bot(workspace, ScriptedEngine(), api, monkeypatch, guilds=2)
    try:
        home = next(index for index, guild in enumerate(bot.guilds) if bot.is_home(guild))
        away = 1 - home
        await ready(bot)
        home_puts, away_puts = api.requests("PUT", sync_path(bot, home)), api.requests("PUT", sync_path(bot, away))
        assert {command["name"] for command in home_puts[0].body} == ADMIN | EVERYONE
        assert away_puts and away_puts[0].body == []  # whatever an earlier version synced there is removed
        global_puts = api.requests("PUT", f"/applications/{APPLICATION_ID}/commands")
        assert len(global_puts) == 1, dumps(api.received)
        commands = {command["name"]: command for command in global_puts[0].body}
        assert set(commands) == EVERYONE                # the admin commands are never global
        assert all(command["contexts"] == [1] for command in commands.values())  # DMs only, not any server
    finally:
        await stop_real_http_bot(bot, api)
