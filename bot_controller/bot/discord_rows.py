"""discord.py objects as the rows ``fetch`` stores and the messages the memory embeds (fetch's own mapping).

Shared by live capture and the admin commands (``allow`` stores the channel row before flagging it).
"""
from __future__ import annotations

from core.fetching.discord_source import channel_kind, guild_row, message_from_discord
from core.ingest.records import ChannelRow, MessageBatch
from core.memory.selection import MemoryMessage


def channel_batch(channel, batch: MessageBatch) -> MessageBatch:
    """``batch`` with the channel's (and its guild's, a thread's parent's) rows, so the messages' keys resolve."""
    guild = getattr(channel, "guild", None)
    if guild is not None:
        batch.guilds[guild.id] = guild_row(guild)
    parent = getattr(channel, "parent", None)
    if parent is not None:
        batch.channels[parent.id] = ChannelRow(parent.id, getattr(guild, "id", None), channel_kind(parent),
                                               str(parent.name))
    category = getattr(channel, "category", None)
    batch.channels[channel.id] = ChannelRow(
        int(channel.id), getattr(guild, "id", None), channel_kind(channel), str(getattr(channel, "name", channel.id)),
        getattr(channel, "parent_id", None), getattr(category, "name", None), getattr(channel, "topic", None))
    return batch


def capture_batch(message, opted_out) -> MessageBatch | None:
    """The batch storing ``message``, or None when its author opted out."""
    if int(message.author.id) in opted_out:
        return None
    row, users = message_from_discord(message)
    batch = channel_batch(message.channel, MessageBatch(messages=[row]))
    for user in users:
        if user.id not in opted_out:
            batch.users.setdefault(user.id, user)
    return batch


def memory_message(message) -> MemoryMessage:
    """The message as the memory stores it, with its server (0 for a DM, which has none)."""
    row, _ = message_from_discord(message)
    guild = getattr(message, "guild", None)
    return MemoryMessage(row.id, row.channel_id, row.author_id, row.created_at, row.content,
                         bool(getattr(message.author, "bot", False)), row.type, tuple(row.mentions),
                         len(row.attachment_urls), guild_id=int(guild.id) if guild is not None else 0)
