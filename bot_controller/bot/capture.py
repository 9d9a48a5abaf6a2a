"""Live capture: with ``capture = true``, messages in allowlisted channels are stored as ``fetch`` stores them.

The mapping is fetch's own (``core.fetching.discord_source.message_from_discord`` into ``storage.messages
.write_batch``), so the next ``prepare`` reads captured messages exactly like fetched ones; an edit rewrites the row
(its ``edited_at`` is newer), a delete removes it. An opted-out user's message is never stored (nor their user row
as someone's mention). Captured messages go into the bot's memory as well, in the generation thread (embedding).
"""
from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot_controller.bot.discord_rows import capture_batch, memory_message
from storage import bot_settings
from storage.messages import delete_messages, write_batch

LOG = logging.getLogger("dps.bot")


class CaptureCog(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    def capturing(self, channel) -> bool:
        settings = self.bot.settings
        if not settings.capture or channel is None:
            return False
        return channel.id in settings.allowlist or getattr(channel, "parent_id", None) in settings.allowlist

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.store(message)

    async def store(self, message, *, edited: bool = False) -> bool:
        if not self.capturing(message.channel):
            return False
        if getattr(message, "webhook_id", None) is not None and message.webhook_id in {
                getattr(hook, "id", None) for hook in self.bot.webhooks.values()}:
            return False  # the bot's own webhook replies: the bot's turns, not a person's history
        batch = capture_batch(message, self.bot.options["opted_out"])
        if batch is None:
            return False
        try:
            write_batch(self.bot.conn, batch)
            avatar = getattr(getattr(message.author, "display_avatar", None), "url", None)
            if avatar:
                bot_settings.set_avatar_url(self.bot.conn, int(message.author.id), str(avatar))
        except Exception as exc:
            self.bot.stats.notice(f"capture failed for a message in #{getattr(message.channel, 'name', '?')}: {exc}")
            return False
        await self.remember(message, edited=edited)
        return True

    def live_memory(self):
        pipeline = self.bot.pipeline
        memory = pipeline.memory if pipeline is not None else None
        return memory if memory is not None and hasattr(memory, "add_messages") else None

    async def remember(self, message, *, edited: bool = False) -> None:
        memory = self.live_memory()
        if memory is None:
            return
        verb = memory.replace_messages if edited else memory.add_messages  # an edit's old text leaves the memory
        try:
            await self.bot.worker.run(verb, [memory_message(message)])
        except Exception as exc:
            self.bot.stats.notice(f"adding a captured message to memory failed: {exc}")

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        message = getattr(payload, "message", None)
        if message is not None:
            await self.store(message, edited=True)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.forget_deleted(payload.channel_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self.forget_deleted(payload.channel_id, list(payload.message_ids))

    async def forget_deleted(self, channel_id: int, ids: list[int]) -> int:
        settings = self.bot.settings
        channel = self.bot.get_channel(channel_id)
        parent = getattr(channel, "parent_id", None)
        if not settings.capture or (channel_id not in settings.allowlist and parent not in settings.allowlist):
            return 0
        memory = self.live_memory()
        if memory is not None:  # a message deleted on Discord leaves the bot's memory too
            try:
                await self.bot.worker.run(memory.forget_messages, ids)
            except Exception as exc:
                self.bot.stats.notice(f"removing deleted messages from memory failed: {exc}")
        return delete_messages(self.bot.conn, ids)
