"""Answers only the caller sees: refusals, ``status`` and consent results never stay in a channel.

A slash command answers ephemerally. A ``!`` command has no ephemeral form (discord.py ignores ``ephemeral``
without an interaction), so the answer goes by DM; when the caller's DMs are closed it is posted as a reply that
deletes itself after ``FALLBACK_SECONDS``. Either way the invoking message is deleted when the bot has Manage
Messages there, so ``!forget-me`` leaves no trace in the channel. In a DM the answer is simply sent there.
"""
from __future__ import annotations

import contextlib
import logging

import discord

from bot_controller.bot.sending import NO_PINGS

LOG = logging.getLogger("dps.bot")
FALLBACK_SECONDS = 10.0  # long enough to read one line, short enough that the channel keeps nothing


async def respond(ctx, text: str) -> str:
    """Tell the caller ``text`` privately; returns how: "ephemeral", "dm", "channel" (self-deleting) or "lost"."""
    if ctx.interaction is not None:
        await ctx.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        return "ephemeral"
    if ctx.guild is None:  # already a DM: only the caller reads it
        await ctx.send(text, allowed_mentions=NO_PINGS)
        return "dm"
    how = "dm"
    try:
        await ctx.author.send(text, allowed_mentions=NO_PINGS)
    except discord.HTTPException:  # DMs closed (Forbidden) or Discord failing: a short-lived reply instead
        how = "channel"
        try:
            await ctx.send(text, delete_after=FALLBACK_SECONDS, allowed_mentions=NO_PINGS,
                           reference=ctx.message, mention_author=False)
        except discord.HTTPException as exc:
            LOG.warning("could not tell %s the result of !%s: %s", ctx.author.id, ctx.invoked_with, exc)
            how = "lost"
    await delete_invocation(ctx)
    return how


async def delete_invocation(ctx) -> bool:
    """Delete the ``!`` command's own message when the bot may (Manage Messages); True when it went."""
    me = getattr(ctx.guild, "me", None)
    if me is None or not ctx.channel.permissions_for(me).manage_messages:
        return False
    with contextlib.suppress(discord.HTTPException):
        await ctx.message.delete()
        return True
    return False
