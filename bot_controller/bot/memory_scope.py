"""The memory wall: which channels' memories a reply may use.

A reply to member M in channel C is read by everyone who can read C. So a memory from channel X may enter it only
when X is a channel of C's server, in the bot's view right now, that M can read, and that everyone who can read C
can read too (otherwise the reply would carry #staff's words into #general). "Read" is Discord's own rule on the
bot's cached channels: ``permissions_for(member)`` with View Channel and Read Message History. A thread counts as its
parent channel; a private thread never counts (who was added to it is not in the bot's cache). DMs, other servers,
and channels the bot cannot see (deleted, or only imported from an export) give nothing.

The audience of C is the guild's cached members (the bot has the Server Members intent), grouped by their roles: a
member whose permissions could differ from their roles' (a member-specific overwrite anywhere in the server) is
checked alone. An answer is cached per (channel, member, member's roles) and the cache is dropped whenever a
channel, thread, role or member changes (``invalidate``, wired to discord.py's events by the bot).
"""
from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import discord

CACHE_SIZE = 4096
PRIVATE_THREAD_KINDS = ("GuildPrivateThread",)


def can_read(channel, member) -> bool:
    permissions = channel.permissions_for(member)
    return bool(permissions.read_messages and permissions.read_message_history)


def root_of(channel):
    """A thread's parent channel (what its permissions follow); any other channel itself."""
    if isinstance(channel, discord.Thread):
        return channel.parent
    return channel


def member_overwrite_ids(guild) -> frozenset[int]:
    """Members with a permission overwrite of their own on some channel: their roles do not say what they read."""
    found = set()
    for channel in guild.channels:
        for target in getattr(channel, "overwrites", {}):
            if isinstance(target, (discord.Member, discord.User)) or getattr(target, "type", None) == "member":
                found.add(int(target.id))
    return frozenset(found)


def audience(channel, guild) -> list:
    """One member per distinct way of reading ``channel``'s server, among those who can read ``channel``."""
    special = member_overwrite_ids(guild)
    seen: set = set()
    chosen = []
    for member in guild.members:
        key = int(member.id) if int(member.id) in special else frozenset(role.id for role in member.roles)
        if key in seen:
            continue
        seen.add(key)
        if can_read(channel, member):
            chosen.append(member)
    return chosen


def readable_channels(channel, member, threads: Mapping[int, Iterable[int]] = {}) -> frozenset[int]:
    """The channel ids whose memories a reply to ``member`` in ``channel`` may use (see the module docstring).

    ``threads``: parent channel id -> ids of its public threads known in the database (archived ones are not in the
    bot's cache, yet their messages may be in the memory)."""
    guild = getattr(channel, "guild", None)
    home = root_of(channel)
    if guild is None or home is None or not isinstance(member, discord.Member) or not can_read(home, member):
        return frozenset()
    readers = audience(home, guild)
    allowed: set[int] = set()
    for candidate in guild.channels:
        if isinstance(candidate, discord.CategoryChannel):
            continue
        if can_read(candidate, member) and all(can_read(candidate, reader) for reader in readers):
            allowed.add(int(candidate.id))
    for thread in guild.threads:
        if thread.type != discord.ChannelType.private_thread and thread.parent_id in allowed:
            allowed.add(int(thread.id))
    for parent in list(allowed):
        allowed.update(int(thread_id) for thread_id in threads.get(parent, ()))
    return frozenset(allowed)


def stored_threads(conn: sqlite3.Connection) -> dict[int, frozenset[int]]:
    """Parent channel id -> ids of its stored non-private threads (the database knows archived ones too)."""
    found: dict[int, set[int]] = {}
    marks = ",".join("?" * len(PRIVATE_THREAD_KINDS))
    for thread_id, parent_id in conn.execute(
            f"SELECT id, parent_id FROM channels WHERE parent_id IS NOT NULL AND kind NOT IN ({marks})",
            PRIVATE_THREAD_KINDS):
        found.setdefault(int(parent_id), set()).add(int(thread_id))
    return {parent: frozenset(ids) for parent, ids in found.items()}


class MemoryScope:
    """``scope.channels(channel, member)``: ``readable_channels`` cached per (channel, member, roles)."""

    def __init__(self, threads: Mapping[int, Iterable[int]] | None = None, size: int = CACHE_SIZE) -> None:
        self.threads: Mapping[int, Iterable[int]] = threads or {}
        self.size = size
        self._cache: OrderedDict[tuple, frozenset[int]] = OrderedDict()
        self.computed = 0  # answers computed rather than cached (for tests and the bench)

    def channels(self, channel, member) -> frozenset[int]:
        roles = tuple(sorted(role.id for role in getattr(member, "roles", ())))
        key = (int(channel.id), int(member.id), roles)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        found = readable_channels(channel, member, self.threads)
        self.computed += 1
        self._cache[key] = found
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return found

    def invalidate(self, *_: object) -> None:
        """Something that changes who reads what happened (a channel, thread, role or member changed)."""
        self._cache.clear()

    def set_threads(self, threads: Mapping[int, Iterable[int]]) -> None:
        self.threads = threads
        self._cache.clear()
