"""Discord's rate limits and server errors, against a local fake of Discord's REST API (tests/fake_discord_http.py).

The bot is the real PersonaBot on a real SQLite workspace; dpytest plays the gateway (guild, members, incoming
messages) and the bot's own discord.py HTTPClient sends every reply to the fake server, so discord.py's real
rate-limit and retry code runs. Each failure gives one clear line (log and ``status``) and the bot keeps answering.
"""
from __future__ import annotations

import logging
import re

import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from storage import bot_settings
from tests.bot_harness import ScriptedEngine
from tests.fake_discord_http import api, dumps, start_real_http_bot, stop_real_http_bot  # noqa: F401 (api: a fixture)

SEND = r"/channels/\d+/messages"


@pytest_asyncio.fixture
async def bot(workspace, api, monkeypatch):
    engine = ScriptedEngine("first reply", "second reply", "third reply")
    bot = await start_real_http_bot(workspace, engine, api, monkeypatch, settings={"rate": 1.0, "cooldown_seconds": 0.0})
    channel = dpytest.get_config().channels[0]
    from tests.bot_harness import allow_channel
    await allow_channel(bot, channel)
    bot.engine_for_test = engine
    yield bot
    await stop_real_http_bot(bot, api)


def bot_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dps.bot" and r.levelno >= logging.WARNING]


async def status_text(bot, api, member: int = 0) -> str:
    """What ``!status`` posts (member 0 is a bot admin through ``admin_ids``)."""
    bot_settings.set_value(bot.conn, "admin_ids", [dpytest.get_config().members[0].id])
    bot.refresh_settings()
    before = len(api.sent_contents())
    await dpytest.message("!status", member=member)
    sent = api.sent_contents()[before:]
    assert len(sent) == 1, dumps(api.received)
    return sent[0]


@pytest.mark.asyncio
async def test_a_429_is_waited_out_by_discord_py_and_the_reply_still_arrives(bot, api, caplog):
    caplog.set_level(logging.INFO)
    api.fail("POST", SEND, 429, times=1, retry_after=0.25)
    await dpytest.message("hello bot, anyone there?")
    posts = api.requests("POST", SEND)
    assert [p.body["content"] for p in posts] == ["first reply", "first reply"], dumps(api.received)  # retried
    assert bot.stats.replies == 1 and bot.stats.errors == 0, list(bot.stats.notices)
    lines = [line for line in bot_lines(caplog) if "429" in line]
    assert len(lines) == 1 and "#" in lines[0] and "rate limit" in lines[0], bot_lines(caplog)
    assert lines[0] in await status_text(bot, api)
    assert "429" not in await status_text(bot, api, member=1)  # not an admin: refused, shown nothing


@pytest.mark.asyncio
async def test_a_global_429_holds_every_request_then_the_reply_arrives(bot, api, caplog):
    caplog.set_level(logging.INFO)
    api.fail("POST", SEND, 429, times=1, retry_after=0.3, global_limit=True)
    await dpytest.message("hello again")
    assert api.sent_contents() == ["first reply", "first reply"], dumps(api.received)
    assert bot.stats.replies == 1 and bot.stats.errors == 0
    lines = [line for line in bot_lines(caplog) if "429" in line]
    assert len(lines) == 1 and "global" in lines[0], bot_lines(caplog)


@pytest.mark.asyncio
async def test_a_lasting_503_is_one_line_naming_the_channel_and_the_bot_answers_after_recovery(bot, api, caplog):
    caplog.set_level(logging.INFO)
    channel = dpytest.get_config().channels[0]
    api.fail("POST", SEND, 503, times=None)
    await dpytest.message("are you there?")
    await dpytest.message("still there?")
    assert bot.stats.replies == 0 and bot.stats.errors == 2
    lines = [line for line in bot_lines(caplog) if "503" in line]
    assert len(lines) == 1, bot_lines(caplog)  # said once, not once per lost reply
    assert f"#{channel.name}" in lines[0] and "Service Unavailable" in lines[0], lines
    assert "Traceback" not in caplog.text
    api.recover()
    assert "third reply" not in api.sent_contents()
    await dpytest.message("back now?")
    assert api.sent_contents()[-1] == "third reply" and bot.stats.replies == 1
    status = await status_text(bot, api)
    assert "errors 2" in status and lines[0] in status, status


@pytest.mark.asyncio
async def test_a_500_is_retried_by_discord_py_and_the_reply_arrives(bot, api):
    api.fail("POST", SEND, 500, times=1)
    await dpytest.message("one more")
    assert api.sent_contents() == ["first reply", "first reply"], dumps(api.received)
    assert bot.stats.replies == 1 and bot.stats.errors == 0


@pytest.mark.asyncio
async def test_a_failing_typing_indicator_does_not_cost_the_reply(bot, api, caplog):
    caplog.set_level(logging.INFO)
    api.fail("POST", r"/channels/\d+/typing", 503, times=None)
    await dpytest.message("type for me")
    assert api.sent_contents() == ["first reply"], dumps(api.received)
    assert bot.stats.replies == 1
    assert len([line for line in bot_lines(caplog) if "typing" in line]) == 1, bot_lines(caplog)


@pytest.mark.asyncio
async def test_a_403_on_sending_is_said_once_per_channel(bot, api, caplog):
    caplog.set_level(logging.INFO)
    channel = dpytest.get_config().channels[0]
    api.fail("POST", SEND, 403, times=None)
    for text in ("first try", "second try", "third try"):
        await dpytest.message(text)
    assert len(api.requests("POST", SEND)) == 3 and bot.stats.errors == 3
    lines = [line for line in bot_lines(caplog) if "missing permission" in line]
    assert len(lines) == 1 and f"#{channel.name}" in lines[0] and "403" in lines[0], bot_lines(caplog)


@pytest.mark.asyncio
async def test_an_outage_of_every_channel_route_says_each_problem_once_and_the_bot_recovers(bot, api, caplog):
    caplog.set_level(logging.INFO)
    channel = dpytest.get_config().channels[0]
    api.fail("*", r"/channels/\d+/.*", 503, times=None)  # history, typing and sending all fail
    for text in ("one", "two", "three"):
        await dpytest.message(text)
    lines = [line for line in bot_lines(caplog) if "503" in line]
    assert len(lines) == len(set(lines)) == 3, lines  # recent messages, typing, the reply: each said once
    assert all(f"#{channel.name}" in line for line in lines) and bot.stats.errors == 3
    assert "Traceback" not in caplog.text
    api.recover()
    await dpytest.message("four")
    assert api.sent_contents()[-1] == "third reply" and bot.stats.replies == 1  # the engine's last scripted line


@pytest.mark.asyncio
async def test_a_cloudflare_429_without_retry_is_one_line_and_the_next_reply_goes_out(bot, api, caplog):
    caplog.set_level(logging.INFO)
    api.fail("POST", SEND, 429, times=2, via=False)  # discord.py raises at once: not Discord's own limiter
    await dpytest.message("first")
    await dpytest.message("second")
    assert len(api.requests("POST", SEND)) == 2 and bot.stats.errors == 2
    lines = [line for line in bot_lines(caplog) if "Cloudflare" in line]
    assert len(lines) == 1 and "#" in lines[0], bot_lines(caplog)
    assert not any("retries" in line for line in bot_lines(caplog))  # discord.py does not retry this one
    await dpytest.message("third")
    assert api.sent_contents()[-1] == "third reply" and bot.stats.replies == 1


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_lasting_502_is_retried_by_discord_py_then_one_line(bot, api, caplog):
    caplog.set_level(logging.INFO)
    api.fail("POST", SEND, 502, times=None)  # discord.py retries a 502 five times, sleeping 1+3+5+7+9 s
    await dpytest.message("patience")
    assert len(api.requests("POST", SEND)) == 5 and bot.stats.errors == 1
    lines = [line for line in bot_lines(caplog) if "502" in line]
    assert len(lines) == 1 and "Bad Gateway" in lines[0], bot_lines(caplog)


@pytest.mark.asyncio
async def test_a_typing_route_that_discord_py_retries_does_not_hold_the_reply(bot, api):
    """A lasting 502 on typing: discord.py retries it for about 25 s; the reply goes out meanwhile, and the
    indicator's retries stop with it."""
    typing = r"/channels/\d+/typing"
    api.fail("POST", typing, 502, times=None)
    await dpytest.message("type for me, slowly")
    assert api.sent_contents() == ["first reply"], dumps(api.received)
    attempts = len(api.requests("POST", typing))
    assert 1 <= attempts < 5, dumps(api.received)  # discord.py gives up after 5 tries: it was not waited for
    first_typing = next(n for n, r in enumerate(api.received) if re.search(typing, r.path))
    first_send = next(n for n, r in enumerate(api.received) if re.search(SEND, r.path) and r.method == "POST")
    assert first_typing < first_send
