"""What the bot reads before answering: the channel's recent messages and the trigger's reply chain, as Turns.

The bot's own recipe for the shared prompt path (``core.prompting.live.turns_from_live``): its own messages (and
those its reply webhooks posted) are the persona's turns, and a mention of the bot (``<@bot id>`` in the content,
the bot in ``message.mentions``, as Discord delivers it) reads as a mention of the persona, so a live prompt has the
shape and the labels training saw (tests/test_bot_prompt.py checks parity with ``prepare``).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import SimpleNamespace

import discord

from core.config.app_config import DatasetConfig
from core.conversation.turns import Persona, Place, Turn
from core.prompting.live import make_place, turns_from_live

LOG = logging.getLogger(__name__)
HISTORY_LIMIT = 40   # recent messages read per reply: the builder keeps what fits the context window
CHAIN_LIMIT = 6      # reply-chain messages fetched beyond the recent ones


class OwnMessage:
    """A message the bot posted through a webhook, seen as the bot user's (the persona's turn)."""

    def __init__(self, message, bot_user) -> None:
        self._message, self.author = message, bot_user

    def __getattr__(self, name: str):
        return getattr(self._message, name)


def bot_turns(messages: Iterable, *, options: Mapping, persona: Persona, bot_user_id: int,
              config: DatasetConfig | None = None, own_webhooks: Iterable[int] = ()) -> list[Turn]:
    """Turns of the latest conversation in ``messages`` (any order) with the bot speaking as ``persona``.

    ``options``: ``core.dataset.personas.live_options(conn)`` (persona names, opted-out users)."""
    webhooks = set(own_webhooks)
    bot_user = SimpleNamespace(id=bot_user_id, name=persona.name, display_name=persona.name, bot=True)
    seen = [OwnMessage(m, bot_user) if getattr(m, "webhook_id", None) in webhooks and webhooks else m
            for m in messages]
    names = {**dict(options.get("names") or {}), bot_user_id: persona.name}
    return turns_from_live(seen, names=names, opted_out=options.get("opted_out") or (), bot_user_id=bot_user_id,
                           persona=persona, config=config)


def channel_place(channel, opted_out=()) -> Place:
    guild = getattr(channel, "guild", None)
    return make_place(getattr(guild, "name", None), getattr(channel, "name", None), opted_out=opted_out)


async def gather(message, limit: int = HISTORY_LIMIT, chain_limit: int = CHAIN_LIMIT, on_failure=None) -> list:
    """The trigger, the ``limit`` messages before it, and its reply chain where that reaches further back.

    ``on_failure(channel, exc)`` hears of a history Discord would not give (the bot says it once); without it the
    failure is logged here."""
    found = {int(message.id): message}
    try:
        async for earlier in message.channel.history(limit=limit, before=message):
            found.setdefault(int(earlier.id), earlier)
    except discord.HTTPException as exc:  # no Read Message History, or Discord's 5xx: answer from the trigger alone
        if on_failure is not None:
            on_failure(message.channel, exc)
        else:
            LOG.warning("cannot read the history of channel %s: %s", getattr(message.channel, "id", "?"), exc)
    current = message
    for _ in range(chain_limit):
        target = await referenced(current)
        if target is None:
            break
        found.setdefault(int(target.id), target)
        current = target
    return sorted(found.values(), key=lambda m: int(m.id))


async def referenced(message):
    """The message ``message`` replies to (resolved, cached or fetched), or None."""
    reference = getattr(message, "reference", None)
    if reference is None or getattr(reference, "message_id", None) is None:
        return None
    resolved = getattr(reference, "resolved", None)
    if isinstance(resolved, discord.DeletedReferencedMessage):
        return None
    if resolved is not None:
        return resolved
    try:
        return await message.channel.fetch_message(reference.message_id)
    except (discord.HTTPException, AttributeError):
        return None
