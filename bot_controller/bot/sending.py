"""Everything the bot posts goes out here: never a ping, at most 2000 characters a message, webhook or plain.

``AllowedMentions.none()`` on every send (the Bot has it as its default too), so a generated ``@everyone``, role or
user mention stays text, and text shaped like a bot token is redacted. Webhook mode posts through one webhook per
channel that the bot made itself, with the persona's display name and avatar; without Manage Webhooks it raises
``WebhookUnavailable`` and the caller falls back to a plain reply (and says so once).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import discord

from core.config.secrets import redact

NO_PINGS = discord.AllowedMentions.none()
WEBHOOK_NAME = "Persona Studio"
TYPING_PATIENCE = 1.0  # seconds a reply waits for Discord to show the typing indicator


class WebhookUnavailable(Exception):
    """The channel's webhook cannot be used; the message says why (for the log and ``status``)."""


async def send_plain(channel, parts: Sequence[str], reply_to=None) -> list:
    """Post ``parts`` in order; the first as a reply to ``reply_to`` (without pinging its author)."""
    sent = []
    for number, part in enumerate(redact(part) for part in parts):  # a token never leaves, whatever generated it
        reference = reply_to if number == 0 and reply_to is not None else None
        if reference is not None:
            sent.append(await channel.send(part, allowed_mentions=NO_PINGS, reference=reference,
                                           mention_author=False))
        else:
            sent.append(await channel.send(part, allowed_mentions=NO_PINGS))
    return sent


@contextlib.asynccontextmanager
async def typing_while(channel, on_failure, patience: float = TYPING_PATIENCE):
    """The typing indicator while a reply is generated; Discord failing to show it never costs the reply.

    The indicator runs as its own task. The body starts once Discord has answered the first typing request or after
    ``patience`` seconds, whichever comes first: a 5xx on the typing route makes discord.py retry for about 25 s,
    and the reply must not wait for that. A failure is told to ``on_failure(channel, exc)`` (discord.py's
    ``typing()`` raises); when the reply is done first, the indicator is simply stopped."""
    answered = asyncio.Event()

    async def show() -> None:
        try:
            async with channel.typing():
                answered.set()
                await asyncio.Event().wait()  # until the reply is done and this task is cancelled
        except discord.HTTPException as exc:
            on_failure(channel, exc)
        finally:
            answered.set()

    indicator = asyncio.create_task(show())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(answered.wait(), patience)
    try:
        yield
    finally:
        indicator.cancel()
        await asyncio.gather(indicator, return_exceptions=True)


async def send_webhook(webhook, parts: Sequence[str], *, username: str, avatar_url: str | None,
                       thread=None) -> list:
    sent = []
    extra = {"thread": thread} if thread is not None else {}
    for part in (redact(part) for part in parts):
        sent.append(await webhook.send(part, username=username[:80], avatar_url=avatar_url or discord.utils.MISSING,
                                       allowed_mentions=NO_PINGS, wait=True, **extra))
    return sent


def webhook_home(channel):
    """The channel that owns webhooks for ``channel`` (a thread posts through its parent's) and the thread, if any."""
    parent = getattr(channel, "parent", None)
    if isinstance(channel, discord.Thread) and parent is not None:
        return parent, channel
    return channel, None


async def channel_webhook(channel, bot_user_id: int, cache: dict):
    """The bot's webhook in ``channel`` (made on first use); WebhookUnavailable without Manage Webhooks."""
    home, _ = webhook_home(channel)
    if home.id in cache:
        return cache[home.id]
    me = getattr(home.guild, "me", None)
    if me is None or not home.permissions_for(me).manage_webhooks:
        raise WebhookUnavailable(f"#{getattr(home, 'name', home.id)}: the bot lacks Manage Webhooks; "
                                 f"replying normally instead")
    try:
        hooks = await home.webhooks()
        hook = next((h for h in hooks if h.name == WEBHOOK_NAME and getattr(h.user, "id", None) == bot_user_id),
                    None)
        if hook is None:
            hook = await home.create_webhook(name=WEBHOOK_NAME, reason="Persona Studio replies as personas")
    except discord.Forbidden:
        raise WebhookUnavailable(f"#{getattr(home, 'name', home.id)}: Discord refused to list or create webhooks; "
                                 f"replying normally instead") from None
    cache[home.id] = hook
    return hook
