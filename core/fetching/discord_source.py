"""The discord.py adapter: maps discord.py messages and channels to stored rows and serves ``core.fetching.fetch``.

Only the REST API is used (``Client.login`` then HTTP calls; no gateway connection), and the token is passed in
memory only. discord.py's errors become ``core.fetching.fetch`` errors here (403 → ChannelForbidden, 5xx/timeouts →
TransientError), with messages that never carry the token. discord.py itself sleeps through 429 rate limits.
Each listed text, news, forum or media channel records whether @everyone may read it (the guild's default role's
permissions there); a public thread takes its parent's answer, a private thread is never readable by everyone; other
kinds stay unknown (None).
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Callable

import aiohttp
import discord

from core.fetching.fetch import (AuthenticationFailed, ChannelForbidden, ChannelNotFound, SourceChannel, SourceError,
                        TransientError)
from core.ingest.records import (CHANNEL_KINDS, ChannelRow, GuildRow, MessageRow, UserRow, mentioned_user_ids,
                                 normalize_message_type, normalize_timestamp, reference_kind, shown_text)
from core.config.secrets import redact

# CHANNEL_KINDS: discord.ChannelType values → the channel kind names DiscordChatExporter writes (the importer's).
# Kinds with a message history of their own (voice and stage channels have a text chat).
HISTORY_KINDS = frozenset({"GuildTextChat", "GuildVoiceChat", "GuildNews", "GuildStageVoice", "GuildNewsThread",
                           "GuildPublicThread", "GuildPrivateThread"})
PRIVATE_THREAD_PARENTS = frozenset({"GuildTextChat", "GuildNews"})
EVERYONE_KINDS = frozenset({"GuildTextChat", "GuildNews", "GuildForum", "GuildMedia"})  # everyone_reads recorded


def user_from_discord(user) -> UserRow:
    display = (getattr(user, "nick", None) or getattr(user, "display_name", None)
               or getattr(user, "global_name", None) or user.name)
    return UserRow(id=int(user.id), name=str(user.name), display_name=str(display), is_bot=bool(user.bot))


def reaction_emoji(emoji) -> str:
    """Unicode emoji as the character, custom ones as ``<:name:id>`` (``<a:name:id>`` animated): discord.py's
    ``str(emoji)``, which the importer writes too."""
    return str(emoji)


def message_from_discord(message) -> tuple[MessageRow, list[UserRow]]:
    """The stored row of a discord.py Message (duck-typed) and its users: the author first, then those mentioned."""
    content = message.content or ""
    mentions = list(getattr(message, "mentions", None) or [])
    explicit_ids = [int(user.id) for user in mentions] + [int(i) for i in getattr(message, "raw_mentions", ())]
    kind = normalize_message_type(getattr(message.type, "value", message.type))
    reference_id, link = reference_from_discord(message, kind, content)
    snapshots = list(getattr(message, "message_snapshots", None) or ())
    forwarded = snapshots[0] if snapshots else None
    parts = visible_parts(message)
    if forwarded is not None:
        parts += visible_parts(forwarded)
    row = MessageRow(
        id=int(message.id),
        channel_id=int(message.channel.id),
        author_id=int(message.author.id),
        created_at=normalize_timestamp(message.created_at),
        edited_at=normalize_timestamp(message.edited_at),
        type=kind,
        content=content,
        reply_to_id=reference_id if link == "Reply" else None,
        mentions=tuple(mentioned_user_ids(explicit_ids, content)),
        attachment_urls=tuple(str(attachment.url) for attachment in message.attachments),
        pinned=bool(message.pinned),
        reactions=tuple((reaction_emoji(reaction.emoji), int(reaction.count)) for reaction in message.reactions),
        reference_id=reference_id, reference_kind=link,
        forwarded_content=None if forwarded is None else (forwarded.content or ""),
        visible_text=shown_text(parts),
    )
    users = [user_from_discord(message.author)]
    users += [user_from_discord(user) for user in mentions]
    return row, users


def reference_from_discord(message, kind: str, content: str) -> tuple[int | None, str | None]:
    """(referenced message id, reference kind), by the same rule as the importer (core.ingest.records)."""
    reference = getattr(message, "reference", None)
    if reference is None:
        return None, None
    forward = getattr(reference, "type", None) == discord.MessageReferenceType.forward \
        or bool(getattr(message, "message_snapshots", None))
    bare = not content and not message.attachments and not getattr(message, "embeds", None) \
        and not getattr(message, "stickers", None)
    target_channel = getattr(reference, "channel_id", None)
    link = reference_kind(kind, forward=forward, bare=bare,
                          same_channel=target_channel is None or int(target_channel) == int(message.channel.id))
    return (int(reference.message_id) if reference.message_id else None), link


def visible_parts(message) -> list:
    """Embed titles and descriptions, then sticker names (of a message or a forward's snapshot)."""
    parts = []
    for embed in getattr(message, "embeds", None) or ():
        parts += [embed.title, embed.description]
    return parts + [sticker.name for sticker in getattr(message, "stickers", None) or ()]


def channel_kind(channel) -> str:
    value = getattr(channel.type, "value", channel.type)
    return CHANNEL_KINDS.get(value, "Unknown")


def everyone_reads(channel, guild, kind: str) -> bool | None:
    """Whether @everyone (the guild's default role) may read ``channel``; None for other kinds or when unknown."""
    role = getattr(guild, "default_role", None)
    if kind not in EVERYONE_KINDS or role is None:
        return None
    try:
        return bool(channel.permissions_for(role).read_messages)
    except Exception:  # incomplete data from a partial guild: unknown, so the playground does not recall it
        return None


def guild_row(guild) -> GuildRow:
    icon = getattr(guild, "icon", None)
    return GuildRow(id=int(guild.id), name=str(guild.name or guild.id), icon_url=str(icon.url) if icon else None)


def describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        text = " ".join(str(exc.text or "").split())[:120]
        return redact(f"HTTP {exc.status}" + (f": {text}" if text else ""))
    return redact(f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}".rstrip(": "))


async def guarded(awaitable):
    """Await a discord.py call, turning its errors into core.fetching.fetch errors."""
    try:
        return await awaitable
    except discord.LoginFailure:
        raise AuthenticationFailed("Discord rejected the bot token; store a new one with `launcher.py token set`") \
            from None
    except discord.Forbidden as exc:
        raise ChannelForbidden(describe(exc)) from None
    except discord.NotFound as exc:
        raise ChannelNotFound(describe(exc)) from None
    except discord.HTTPException as exc:
        if exc.status >= 500 or exc.status in (408, 429):
            raise TransientError(describe(exc)) from None
        raise SourceError(describe(exc)) from None
    except (discord.RateLimited, asyncio.TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise TransientError(describe(exc)) from None


async def collect(iterator) -> list:
    return [item async for item in iterator]


class DiscordSource:
    """``core.fetching.fetch.MessageSource`` over a logged-in discord.py Client."""

    def __init__(self, client, on_notice: Callable[[str], None] | None = None):
        self.client = client
        self.on_notice = on_notice or (lambda line: None)
        self._objects: dict[int, object] = {}   # channel id → discord.py channel object, for later requests
        self._guilds: dict[int, object] = {}
        self._channels: dict[int, SourceChannel] = {}
        self._active_threads: dict[int, list] = {}

    async def list_channels(self) -> list[SourceChannel]:
        """Every channel of every guild the bot is in, with whether the bot may read it."""
        listed = []
        for partial in await guarded(collect(self.client.fetch_guilds(limit=None))):
            try:
                listed += await self._guild_channels(partial.id)
            except (ChannelForbidden, ChannelNotFound) as exc:
                self.on_notice(f"guild {partial.name} ({partial.id}): cannot list its channels ({exc})")
        return listed

    async def _guild_channels(self, guild_id: int) -> list[SourceChannel]:
        guild = await guarded(self.client.fetch_guild(guild_id, with_counts=False))
        self._guilds[guild.id] = guild
        channels = await guarded(guild.fetch_channels())
        try:
            member = await guarded(guild.fetch_member(self.client.user.id))
        except SourceError:
            member = None  # readability unknown; the fetch finds out per channel
        names = {channel.id: channel.name for channel in channels}
        listed = []
        for channel in channels:
            kind = channel_kind(channel)
            row = ChannelRow(id=channel.id, guild_id=guild.id, kind=kind, name=channel.name,
                             category=names.get(getattr(channel, "category_id", None)),
                             topic=getattr(channel, "topic", None),
                             everyone_reads=everyone_reads(channel, guild, kind))
            listed.append(self._remember(channel, SourceChannel(
                row, guild_row(guild), readable=self._readable(channel, member), has_history=kind in HISTORY_KINDS,
                last_message_id=getattr(channel, "last_message_id", None))))
        return listed

    @staticmethod
    def _readable(channel, member) -> bool | None:
        if member is None:
            return None
        try:
            permissions = channel.permissions_for(member)
        except Exception:  # incomplete data from a partial guild: let the first request decide
            return None
        return bool(permissions.view_channel and permissions.read_message_history)

    def _remember(self, obj, channel: SourceChannel) -> SourceChannel:
        self._objects[channel.row.id] = obj
        self._channels[channel.row.id] = channel
        return channel

    def _thread(self, thread) -> SourceChannel:
        parent = self._channels.get(thread.parent_id)
        guild = self._guilds.get(thread.guild.id)
        kind = channel_kind(thread)
        # a public thread shows to whoever sees its parent; a private one only to its members
        everyone = False if kind == "GuildPrivateThread" else (parent.row.everyone_reads if parent else None)
        row = ChannelRow(id=thread.id, guild_id=thread.guild.id, kind=kind, name=thread.name,
                         parent_id=thread.parent_id, category=parent.row.name if parent else None,
                         everyone_reads=everyone)
        return self._remember(thread, SourceChannel(
            row, guild_row(guild) if guild else (parent.guild if parent else None),
            last_message_id=getattr(thread, "last_message_id", None)))

    async def resolve_channel(self, channel_id: int) -> SourceChannel:
        """A channel or thread that the guild listing did not show (a thread id given on the command line)."""
        if channel_id in self._channels:
            return self._channels[channel_id]
        obj = await guarded(self.client.fetch_channel(channel_id))
        if getattr(obj, "parent_id", None) is not None and channel_kind(obj).endswith("Thread"):
            return self._thread(obj)
        guild = self._guilds.get(getattr(getattr(obj, "guild", None), "id", None))
        kind = channel_kind(obj)
        row = ChannelRow(id=obj.id, guild_id=guild.id if guild else None, kind=kind,
                         name=str(getattr(obj, "name", None) or obj.id),
                         everyone_reads=everyone_reads(obj, guild, kind) if guild else None)
        return self._remember(obj, SourceChannel(row, guild_row(guild) if guild else None,
                                                 has_history=kind in HISTORY_KINDS))

    async def list_threads(self, channel: SourceChannel) -> list[SourceChannel]:
        """Active and archived threads (forum posts included) of a channel; private ones where readable."""
        obj = self._objects[channel.row.id]
        guild_id = channel.row.guild_id
        if guild_id not in self._active_threads and guild_id in self._guilds:
            self._active_threads[guild_id] = await guarded(self._guilds[guild_id].active_threads())
        found = {t.id: t for t in self._active_threads.get(guild_id, ()) if t.parent_id == channel.row.id}
        for thread in await guarded(collect(obj.archived_threads(limit=None))):
            found[thread.id] = thread
        if channel.row.kind in PRIVATE_THREAD_PARENTS:
            for thread in await self._private_archived(obj, channel):
                found[thread.id] = thread
        return [self._thread(thread) for thread in found.values()]

    async def _private_archived(self, obj, channel: SourceChannel) -> list:
        try:  # every private archived thread needs Manage Threads; the joined ones do not
            return await guarded(collect(obj.archived_threads(limit=None, private=True)))
        except ChannelForbidden:
            pass
        try:
            return await guarded(collect(obj.archived_threads(limit=None, private=True, joined=True)))
        except ChannelForbidden:
            self.on_notice(f"#{channel.row.name} ({channel.row.id}): private archived threads not readable")
            return []

    async def fetch_page(self, channel: SourceChannel, *, after: int | None, before: int | None,
                         limit: int) -> list[tuple[MessageRow, list[UserRow]]]:
        obj = self._objects[channel.row.id]
        if after is not None:
            history = obj.history(limit=limit, after=discord.Object(id=after), oldest_first=True)
        else:
            history = obj.history(limit=limit, before=discord.Object(id=before) if before else None,
                                  oldest_first=False)
        return [message_from_discord(message) for message in await guarded(collect(history))]


def default_client():
    # REST only: no gateway connection, so no intents are needed (message content still needs the privileged
    # Message Content intent switched on for the app in the developer portal).
    return discord.Client(intents=discord.Intents.none())


CLIENT_FACTORY: Callable[[], object] = default_client  # tests swap in a fake client


@asynccontextmanager
async def open_source(token: str, *, on_notice: Callable[[str], None] | None = None):
    """Log in with ``token`` (kept in memory only) and yield a DiscordSource; the client is always closed."""
    client = CLIENT_FACTORY()
    try:
        await guarded(client.login(token))
        yield DiscordSource(client, on_notice)
    finally:
        await client.close()
