"""Webhook mode with a fake channel: the persona's name and avatar, no pings; without permission a plain reply.
Reply in a thread: a thread opened on the trigger."""
from __future__ import annotations

from types import SimpleNamespace

import discord.ext.test as dpytest
import pytest
import pytest_asyncio

from bot_controller.bot.sending import NO_PINGS, WEBHOOK_NAME
from core.conversation.turns import Persona
from storage import bot_settings
from tests.bot_harness import PERSONA_ID, PERSONA_NAME, ScriptedEngine, start_bot, stop_bot


class FakeWebhook:
    def __init__(self, user_id: int, name: str = WEBHOOK_NAME):
        self.id, self.name, self.user, self.sent = 4242, name, SimpleNamespace(id=user_id), []

    async def send(self, content, **kwargs):
        self.sent.append((content, kwargs))


class FakeChannel:
    def __init__(self, bot_user_id: int, *, manage_webhooks: bool):
        self.id, self.name, self.parent_id = 777, "banter", None
        self.guild = SimpleNamespace(me=SimpleNamespace(id=bot_user_id), name="Guild")
        self.manage_webhooks, self.bot_user_id = manage_webhooks, bot_user_id
        self.hooks, self.sent = [FakeWebhook(1, "someone else's")], []

    def permissions_for(self, member):
        return SimpleNamespace(manage_webhooks=self.manage_webhooks)

    async def webhooks(self):
        return list(self.hooks)

    async def create_webhook(self, *, name, reason=None):
        self.hooks.append(FakeWebhook(self.bot_user_id, name))
        return self.hooks[-1]

    async def send(self, content, **kwargs):
        self.sent.append((content, kwargs))


@pytest_asyncio.fixture
async def bot(workspace):
    bot = await start_bot(workspace, ScriptedEngine())
    yield bot
    await stop_bot(bot)


def trigger(channel):
    return SimpleNamespace(id=1, channel=channel, content="hi")


@pytest.mark.asyncio
async def test_webhook_replies_carry_the_personas_name_and_avatar(bot):
    channel = FakeChannel(bot.user.id, manage_webhooks=True)
    bot_settings.set_channel(bot.conn, channel.id, webhook=True)
    bot_settings.set_avatar_url(bot.conn, PERSONA_ID, "https://cdn.example/stored.png")
    bot.refresh_settings()
    persona = Persona(PERSONA_ID, PERSONA_NAME)
    await bot.post(trigger(channel), persona, ["one", "two"])
    hook = channel.hooks[-1]
    assert hook.user.id == bot.user.id and len(channel.hooks) == 2  # made its own, left the other one alone
    assert [content for content, _ in hook.sent] == ["one", "two"] and channel.sent == []
    for _, kwargs in hook.sent:
        assert kwargs["username"] == PERSONA_NAME and kwargs["avatar_url"] == "https://cdn.example/stored.png"
        assert kwargs["allowed_mentions"] is NO_PINGS
    bot_settings.set_value(bot.conn, "avatars", {PERSONA_ID: "https://cdn.example/set.png"})
    bot.refresh_settings()
    await bot.post(trigger(channel), persona, ["three"])
    assert hook.sent[-1][1]["avatar_url"] == "https://cdn.example/set.png" and len(channel.hooks) == 2


@pytest.mark.asyncio
async def test_without_manage_webhooks_it_says_so_once_and_replies_normally(bot):
    channel = FakeChannel(bot.user.id, manage_webhooks=False)
    bot_settings.set_channel(bot.conn, channel.id, webhook=True)
    bot.refresh_settings()
    persona = Persona(PERSONA_ID, PERSONA_NAME)
    await bot.post(trigger(channel), persona, ["first"])
    await bot.post(trigger(channel), persona, ["second"])
    assert [content for content, _ in channel.sent] == ["first", "second"]
    assert all(kwargs["allowed_mentions"] is NO_PINGS for _, kwargs in channel.sent)
    assert [line for line in bot.stats.notices if "Manage Webhooks" in line] == [
        "#banter: the bot lacks Manage Webhooks; replying normally instead"]


@pytest.mark.asyncio
async def test_reply_in_thread_opens_a_thread_on_the_trigger(workspace):
    bot = await start_bot(workspace, ScriptedEngine(), settings={"reply_in_thread": True})
    try:
        channel = dpytest.get_config().channels[0]
        posted = []

        class Thread:
            id, name, parent_id = 1234, "t", channel.id

            async def send(self, content, **kwargs):
                posted.append((content, kwargs))

        async def create_thread(*, name):
            posted.append(("thread", name))
            return Thread()

        message = SimpleNamespace(id=1, channel=channel, content="what do you think?", create_thread=create_thread)
        await bot.post(message, SimpleNamespace(id=500, name="Ally"), ["in the thread"])
        assert posted[0] == ("thread", "Ally: what do you think?")
        assert posted[1][0] == "in the thread" and "reference" not in posted[1][1]
        assert posted[1][1]["allowed_mentions"].to_dict()["parse"] == []
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_reply_to_the_personas_webhook_message_counts_as_a_reply_to_the_bot(bot):
    hook = FakeWebhook(bot.user.id)
    bot.webhooks[777] = hook
    target = SimpleNamespace(id=5, webhook_id=hook.id, author=SimpleNamespace(id=hook.id))
    message = SimpleNamespace(reference=SimpleNamespace(message_id=5, resolved=target), channel=None)
    assert await bot.replied_author(message) == bot.user.id
    stranger = SimpleNamespace(id=6, webhook_id=None, author=SimpleNamespace(id=31))
    message.reference = SimpleNamespace(message_id=6, resolved=stranger)
    assert await bot.replied_author(message) == 31
