"""The channel listing behind ``channels list|add``: live channels merged with stored ones, and storing live ones.

Plain functions over ``core.fetching.fetch.SourceChannel`` and ``storage.channels.StoredChannel``, so they are testable
without Discord.
"""
from __future__ import annotations

import sqlite3

from core.fetching.fetch import ChannelForbidden, ChannelNotFound, MessageSource, SourceChannel
from core.ingest.records import MessageBatch
from storage.channels import StoredChannel
from storage.messages import write_batch


def merge_listing(stored: list[StoredChannel], live: list[SourceChannel] | None) -> list[dict]:
    """One entry per channel: live ones (with readability) first in listing order, then stored-only ones."""
    by_id = {channel.id: channel for channel in stored}
    entries = []
    for channel in live or []:
        entries.append(entry(by_id.pop(channel.row.id, None), channel))
    entries += [entry(channel, None) for channel in stored if channel.id in by_id]
    return entries


def entry(stored: StoredChannel | None, live: SourceChannel | None) -> dict:
    row = live.row if live else None
    return {
        "id": row.id if row else stored.id,
        "guild_id": row.guild_id if row else stored.guild_id,
        "guild": (live.guild.name if live and live.guild else None) or (stored.guild_name if stored else None),
        "kind": row.kind if row else stored.kind,
        "name": row.name if row else stored.name,
        "category": row.category if row else stored.category,
        "parent_id": row.parent_id if row else stored.parent_id,
        "live": live is not None,
        "readable": live.readable if live else None,
        "everyone_reads": row.everyone_reads if row and row.everyone_reads is not None else (
            stored.everyone_reads if stored else None),
        "stored": stored is not None,
        "allowlisted": bool(stored and stored.allowlisted),
        "messages": stored.messages if stored else 0,
        "newest_stored_id": stored.newest_stored_id if stored else None,
        "oldest_stored_id": stored.oldest_stored_id if stored else None,
        "backfill_complete": bool(stored and stored.backfill_complete),
    }


async def store_live_channels(conn: sqlite3.Connection, source: MessageSource, ids: list[int]) -> list[SourceChannel]:
    """Look ``ids`` up on Discord (guild channels, else a direct lookup for threads) and store the ones found."""
    listing = {channel.row.id: channel for channel in await source.list_channels()}
    found = []
    for channel_id in ids:
        channel = listing.get(channel_id)
        if channel is None:
            try:
                channel = await source.resolve_channel(channel_id)
            except (ChannelNotFound, ChannelForbidden):
                continue
        found.append(channel)
    if found:
        batch = MessageBatch(channels={channel.row.id: channel.row for channel in found},
                             guilds={channel.guild.id: channel.guild for channel in found if channel.guild})
        write_batch(conn, batch)
    return found
