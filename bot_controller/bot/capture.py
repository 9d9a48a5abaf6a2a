"""Live capture: with ``capture = true``, messages in allowlisted channels of a home server are stored as ``fetch``
stores them.

The mapping is fetch's own (``core.fetching.discord_source.message_from_discord`` into ``storage.messages
.write_batch``), so the next ``prepare`` reads captured messages exactly like fetched ones; an edit rewrites the row
(its ``edited_at`` is newer), a delete removes it. Nothing is written on the event loop: each message is queued to
the bot's SQLite writer thread (``db_writer.DatabaseWriter``), which stores a burst in one transaction and hands what
it stored on to the memory feeder (embedding, on its own thread). An opted-out user's message is never queued (nor
their user row as someone's mention); a forgotten user's is refused inside the write itself, whoever's list of
opt-outs is behind.
"""
from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot_controller.bot.discord_rows import capture_batch, memory_message
from storage import bot_settings
from storage.messages import delete_messages

LOG = logging.getLogger("dps.bot")


class CaptureCog(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    def capturing(self, channel) -> bool:
        settings = self.bot.settings
        if not settings.capture or channel is None or not self.bot.is_home(getattr(channel, "guild", None)):
            return False
        return channel.id in settings.allowlist or getattr(channel, "parent_id", None) in settings.allowlist

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        self.store(message)

    def store(self, message, *, edited: bool = False) -> bool:
        """Queue ``message`` for the writer (and then the memory); False when it is not captured."""
        writer = self.bot.writer
        if writer is None or not self.capturing(message.channel):
            return False
        if getattr(message, "webhook_id", None) is not None and message.webhook_id in {
                getattr(hook, "id", None) for hook in self.bot.webhooks.values()}:
            return False  # the bot's own webhook replies: the bot's turns, not a person's history
        batch = capture_batch(message, self.bot.options["opted_out"])
        if batch is None:
            return False
        remember = ("replace" if edited else "add", memory_message(message)) if self.bot.live_memory() else None
        writer.capture(batch, remember)
        avatar = getattr(getattr(message.author, "display_avatar", None), "url", None)
        if avatar:
            writer.post(bot_settings.set_avatar_url, int(message.author.id), str(avatar))
        return True

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        message = getattr(payload, "message", None)
        if message is not None:
            self.store(message, edited=True)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.forget_deleted(payload.channel_id, getattr(payload, "guild_id", None), [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self.forget_deleted(payload.channel_id, getattr(payload, "guild_id", None), list(payload.message_ids))

    async def forget_deleted(self, channel_id: int, guild_id: int | None, ids: list[int]) -> int:
        """A message deleted on Discord leaves the database and the memory; returns how many rows went."""
        settings = self.bot.settings
        channel = self.bot.get_channel(channel_id)
        parent = getattr(channel, "parent_id", None)
        guild = self.bot.get_guild(guild_id) if guild_id is not None else getattr(channel, "guild", None)
        if not settings.capture or not self.bot.is_home(guild) or self.bot.writer is None or (
                channel_id not in settings.allowlist and parent not in settings.allowlist):
            return 0
        if self.bot.feeder is not None and self.bot.live_memory() is not None:
            self.bot.feeder.feed("forget", ids)
        return await self.bot.writer.call(delete_messages, ids)
