"""Which channels' memories a conversation may recall when no one's Discord permissions are at hand (the ``chat``
playground): only what anyone in the server could read anyway.

The rule: channels known to be readable by @everyone (``channels.everyone_reads = 1``, which a live fetch records)
in the servers in question, plus public threads whose parent qualifies (a thread a fetch found private, or any
private thread, never). A channel whose readability is unknown (imported from an export: NULL) or that only some
roles may read (0) is never recalled: the person at the playground need not be someone who could read it.
``chat --channel ID`` looks in that channel's server; without ``--channel``, in the bot's home servers.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from storage import bot_settings

PUBLIC_THREADS = ("GuildPublicThread", "GuildNewsThread")
THREADS = PUBLIC_THREADS + ("GuildPrivateThread",)
_KINDS = ", ".join(f"'{kind}'" for kind in THREADS)
_PUBLIC_KINDS = ", ".join(f"'{kind}'" for kind in PUBLIC_THREADS)
PUBLIC = f"""
SELECT c.id FROM channels c LEFT JOIN channels p ON p.id = c.parent_id
WHERE COALESCE(c.guild_id, p.guild_id) IN ({{marks}})
  AND ((c.kind NOT IN ({_KINDS}) AND c.everyone_reads = 1)
       OR (c.kind IN ({_PUBLIC_KINDS}) AND COALESCE(c.everyone_reads, 1) = 1 AND p.everyone_reads = 1))
"""


def public_channels(conn: sqlite3.Connection, guild_ids: Iterable[int]) -> frozenset[int]:
    """The channels and threads of these servers that @everyone is known to be able to read."""
    guilds = sorted({int(guild) for guild in guild_ids if guild})
    if not guilds:
        return frozenset()
    rows = conn.execute(PUBLIC.format(marks=", ".join("?" * len(guilds))), guilds).fetchall()
    return frozenset(int(row[0]) for row in rows)


def server_of(conn: sqlite3.Connection, channel_id: int) -> int | None:
    """The server of a stored channel (a thread's own row, else its parent's), or None."""
    row = conn.execute("SELECT COALESCE(c.guild_id, p.guild_id) FROM channels c LEFT JOIN channels p "
                       "ON p.id = c.parent_id WHERE c.id = ?", (int(channel_id),)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def playground_channels(conn: sqlite3.Connection, channel_id: int | None) -> frozenset[int]:
    """What the playground may recall: the public channels of ``channel_id``'s server, or without a channel, of the
    bot's home servers (``bot_settings`` home_guild_ids). Raises BotSettingsError for an unusable stored setting."""
    if channel_id is None:
        return public_channels(conn, bot_settings.load(conn).home_guild_ids)
    guild = server_of(conn, channel_id)
    return public_channels(conn, () if guild is None else (guild,))
