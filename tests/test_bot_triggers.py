"""When the bot answers: the pure trigger rules with plain fakes (no Discord)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import discord

from bot_controller.bot.triggers import Incoming, RateState, decide

BOT = 900
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
CHANNEL, OTHER = 10, 11
BASE = Incoming(message_id=1, channel_id=CHANNEL, parent_id=None, author_id=5, author_is_bot=False, webhook=False,
                system=False, created_at=NOW - timedelta(seconds=2), mentions_bot=False, replies_to_bot=False)
RULES = dict(bot_user_id=BOT, allowlist=frozenset({CHANNEL}), rate=0.0, mentions_only=False, cooldown_seconds=30.0,
             replies_per_minute=5, max_age_seconds=60.0, wall_now=NOW)


def ask(message: Incoming = BASE, *, state: RateState | None = None, now: float = 1000.0, roll: float = 0.5,
        **rules):
    return decide(message, **{**RULES, **rules}, state=state or RateState(), now=now, random=lambda: roll)


def test_a_mention_or_a_reply_to_the_bot_is_always_answered_even_outside_the_allowlist():
    assert ask(replace(BASE, mentions_bot=True)).reason == "mention"
    assert ask(replace(BASE, replies_to_bot=True)).reason == "reply"
    assert ask(replace(BASE, mentions_bot=True, channel_id=OTHER)).answer
    assert ask(replace(BASE, mentions_bot=True), mentions_only=True).answer


def test_unaddressed_messages_follow_the_rate_in_allowlisted_channels_only():
    assert not ask(rate=0.3, roll=0.5).answer
    assert ask(rate=0.6, roll=0.5).reason == "chance"
    assert ask(replace(BASE, channel_id=OTHER), rate=1.0).reason == "ignored: channel not allowlisted"
    assert ask(replace(BASE, channel_id=42, parent_id=CHANNEL), rate=1.0).answer  # a thread of an allowlisted one
    assert ask(rate=1.0, mentions_only=True).reason == "ignored: mentions only"


def test_bots_webhooks_itself_and_system_messages_are_ignored():
    addressed = replace(BASE, mentions_bot=True)
    assert ask(replace(addressed, author_id=BOT)).reason == "ignored: own message"
    assert ask(replace(addressed, author_is_bot=True)).reason == "ignored: bot"
    assert ask(replace(addressed, webhook=True)).reason == "ignored: webhook"
    assert ask(replace(addressed, system=True)).reason == "ignored: system message"


def test_messages_older_than_a_minute_are_never_answered():
    old = replace(BASE, mentions_bot=True, created_at=NOW - timedelta(seconds=61))
    assert ask(old).reason == "ignored: too old"
    assert ask(replace(old, created_at=NOW - timedelta(seconds=59))).answer


def test_channel_cooldown_applies_to_unaddressed_replies_and_the_global_limit_to_all():
    state = RateState()
    state.record(CHANNEL, 1000.0)
    assert ask(state=state, now=1010.0, rate=1.0).reason == "ignored: channel cooldown"
    assert ask(state=state, now=1031.0, rate=1.0).answer
    assert ask(replace(BASE, mentions_bot=True), state=state, now=1010.0).answer  # a mention skips the cooldown
    for moment in range(5):
        state.record(OTHER, 1040.0 + moment)
    assert ask(replace(BASE, mentions_bot=True), state=state, now=1045.0).reason == "ignored: replies-per-minute limit"
    assert ask(replace(BASE, mentions_bot=True), state=state, now=1101.0).answer  # the window moved on


def test_incoming_reads_a_discord_message_shape():
    bot_user = SimpleNamespace(id=BOT)
    channel = SimpleNamespace(id=42, parent_id=CHANNEL)
    replied = SimpleNamespace(author=bot_user)
    message = SimpleNamespace(id=7, channel=channel, author=SimpleNamespace(id=5, bot=False), webhook_id=None,
                              type=discord.MessageType.reply, created_at=NOW, mentions=[bot_user],
                              reference=SimpleNamespace(message_id=3, resolved=replied))
    incoming = Incoming.from_message(message, BOT)
    assert (incoming.mentions_bot, incoming.replies_to_bot, incoming.parent_id, incoming.system) == (
        True, True, CHANNEL, False)
    joined = replace(incoming, system=Incoming.from_message(
        SimpleNamespace(**{**vars(message), "type": discord.MessageType.new_member}), BOT).system)
    assert joined.system
