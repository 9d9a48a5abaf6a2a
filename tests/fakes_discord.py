"""Fakes of the discord.py objects the live fetch touches: Client, Guild, TextChannel, ForumChannel, Thread, Message.

They keep discord.py's semantics where the fetch depends on them: ``history(limit, before, after, oldest_first)``
pages 100 messages per request exactly as ``discord.abc.Messageable.history`` does (``after`` → oldest first,
otherwise newest first; a short page ends the iteration), archived-thread listings need Manage Threads for private
threads, and failures are real discord.py exceptions (Forbidden, NotFound, DiscordServerError, LoginFailure).
Only the network is fake. Tests inject failures per request with ``fail_at``.
"""
from __future__ import annotations

import base64
import itertools
import logging
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import discord
from discord.utils import snowflake_time, time_snowflake

_ids = itertools.count(1)
RAW_MENTION = re.compile(r"<@!?(\d+)>")


def make_token(bot_id: int = 1234567890123456789) -> str:
    """A token shaped like Discord's: base64(bot id) . timestamp . HMAC."""
    head = base64.urlsafe_b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.GhT5aQ.{'x7Kp_Q-3vRz' * 3}w9L"


def http_error(status: int, text: str = "") -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason={403: "Forbidden", 404: "Not Found"}.get(status, "Error"))
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status)
    kind = kind or (discord.DiscordServerError if status >= 500 else discord.HTTPException)
    return kind(response, text or {"message": "fake failure", "code": 50001 if status == 403 else 0})


class FakeUser:
    def __init__(self, id: int, name: str, global_name: str | None = None, bot: bool = False, nick: str | None = None):
        self.id, self.name, self.global_name, self.bot, self.nick = id, name, global_name, bot, nick

    @property
    def display_name(self) -> str:
        return self.nick or self.global_name or self.name


class FakeMessage:
    def __init__(self, channel, id: int, author: FakeUser, content: str = "", *, edited_at=None,
                 type=discord.MessageType.default, reply_to: int | None = None, mentions=(), attachments=(),
                 pinned=False, reactions=()):
        self.channel, self.id, self.author, self.content = channel, id, author, content
        self.created_at = snowflake_time(id)
        self.edited_at, self.type, self.pinned = edited_at, type, pinned
        self.reference = SimpleNamespace(message_id=reply_to, channel_id=channel.id) if reply_to else None
        self.mentions = list(mentions)
        self.attachments = [SimpleNamespace(url=url, filename=url.rsplit("/", 1)[-1]) for url in attachments]
        self.reactions = [SimpleNamespace(emoji=emoji, count=count) for emoji, count in reactions]

    @property
    def raw_mentions(self) -> list[int]:
        return [int(found) for found in RAW_MENTION.findall(self.content)]


class FakeMessageable:
    """A channel with a message history and request accounting."""
    type = discord.ChannelType.text

    def __init__(self, guild, id: int | None = None, name: str = "channel", *, readable: bool = True):
        self.guild, self.id, self.name = guild, id or next_snowflake(), name
        self.messages: list[FakeMessage] = []
        self.readable = readable
        self.requests = 0
        self.fail_at: dict[int, BaseException] = {}  # request number (1-based) → exception raised instead

    @property
    def last_message_id(self) -> int | None:
        return self.messages[-1].id if self.messages else None

    def add(self, author: FakeUser, content: str = "", *, at: datetime | None = None, **fields) -> FakeMessage:
        moment = at or (snowflake_time(self.messages[-1].id) + timedelta(minutes=1) if self.messages
                        else datetime(2024, 1, 1, tzinfo=timezone.utc))
        message = FakeMessage(self, time_snowflake(moment) + next(_ids) % 4096, author, content, **fields)
        self.messages.append(message)
        self.messages.sort(key=lambda m: m.id)
        return message

    def fill(self, count: int, authors: list[FakeUser], start: datetime | None = None) -> list[FakeMessage]:
        moment = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
        return [self.add(authors[i % len(authors)], f"message {i} in {self.name}", at=moment + timedelta(minutes=i))
                for i in range(count)]

    def _request(self) -> None:
        self.requests += 1
        if self.requests in self.fail_at:
            raise self.fail_at.pop(self.requests)
        if not self.readable:
            raise http_error(403, {"message": "Missing Access", "code": 50001})

    def permissions_for(self, member):
        return permissions(self, member)

    async def history(self, *, limit=100, before=None, after=None, around=None, oldest_first=None):
        """discord.abc.Messageable.history's paging, over self.messages."""
        if around is not None:
            raise NotImplementedError("the fetcher never uses around")
        before_id = getattr(before, "id", before)
        after_id = getattr(after, "id", after)
        reverse = (after_id is not None) if oldest_first is None else oldest_first
        after_id = after_id or 0  # discord.py's OLDEST_OBJECT
        state = after_id if reverse else before_id
        keep = ((lambda m: before_id is None or m.id < before_id) if reverse
                else (lambda m: not after_id or m.id > after_id))
        while True:
            retrieve = 100 if limit is None else min(limit, 100)
            if retrieve < 1:
                return
            self._request()
            if reverse:  # Discord answers `after` with the oldest messages after it
                data = [m for m in self.messages if m.id > state][:retrieve]
                state = data[-1].id if data else state
            else:
                data = [m for m in self.messages if state is None or m.id < state][-retrieve:][::-1]
                state = data[-1].id if data else state
            if limit is not None:
                limit -= len(data)
            count = 0
            for count, message in enumerate(filter(keep, data), 1):
                yield message
            if count < 100:
                return


class FakeThread(FakeMessageable):
    def __init__(self, parent, name: str, *, private: bool = False, archived: bool = False, readable: bool = True):
        super().__init__(parent.guild, name=name, readable=readable)
        self.parent_id, self.archived, self.private = parent.id, archived, private
        news = parent.type == discord.ChannelType.news
        self.type = (discord.ChannelType.private_thread if private else
                     discord.ChannelType.news_thread if news else discord.ChannelType.public_thread)
        parent.threads.append(self)


class FakeTextChannel(FakeMessageable):
    type = discord.ChannelType.text

    def __init__(self, guild, name: str, *, category=None, topic: str | None = None, readable: bool = True,
                 everyone: bool = True):
        super().__init__(guild, name=name, readable=readable)
        self.everyone = everyone  # whether @everyone may read it (else only some roles)
        self.category_id = category.id if category else None
        self.topic = topic
        self.threads: list[FakeThread] = []
        guild.channels.append(self)

    async def archived_threads(self, *, private=False, joined=False, limit=100, before=None):
        if private and not joined and not self.guild.bot_manages_threads:
            raise http_error(403, {"message": "Missing Permissions", "code": 50013})
        if not self.readable:
            raise http_error(403, {"message": "Missing Access", "code": 50001})
        for thread in self.threads:
            if thread.archived and thread.private == private and (not joined or thread.private):
                yield thread


class FakeForumChannel:
    type = discord.ChannelType.forum

    def __init__(self, guild, name: str, *, readable: bool = True, everyone: bool = True):
        self.guild, self.id, self.name, self.readable = guild, next_snowflake(), name, readable
        self.everyone = everyone
        self.category_id, self.topic, self.last_message_id = None, None, None
        self.threads: list[FakeThread] = []
        guild.channels.append(self)

    def permissions_for(self, member):
        return permissions(self, member)

    async def archived_threads(self, *, limit=100, before=None):
        for thread in self.threads:
            if thread.archived:
                yield thread


class FakeCategory:
    type = discord.ChannelType.category

    def __init__(self, guild, name: str):
        self.guild, self.id, self.name = guild, next_snowflake(), name
        self.category_id = None
        guild.channels.append(self)

    def permissions_for(self, member):
        return SimpleNamespace(view_channel=True, read_message_history=True)


class FakeGuild:
    def __init__(self, name: str = "Test guild", *, bot_manages_threads: bool = False):
        self.id, self.name, self.icon = next_snowflake(), name, None
        self.default_role = SimpleNamespace(id=self.id, name="@everyone")  # Discord gives it the guild's id
        self.channels: list = []
        self.bot_manages_threads = bot_manages_threads

    async def fetch_channels(self):
        return list(self.channels)

    async def fetch_member(self, user_id: int):
        return SimpleNamespace(id=user_id)

    async def active_threads(self):
        return [t for channel in self.channels for t in getattr(channel, "threads", []) if not t.archived]


class FakeClient:
    """A logged-in-over-REST discord.py Client; ``login`` checks the token and logs at DEBUG like a chatty library."""

    def __init__(self, guilds: list[FakeGuild], token: str):
        self.guilds, self._token = guilds, token
        self.user = SimpleNamespace(id=1234567890123456789)
        self.logged_in = self.closed = False
        self.log = logging.getLogger("discord.http")

    async def login(self, token: str) -> None:
        # A library may log request headers at DEBUG; redaction must catch that.
        self.log.debug("POST /auth/login with headers {'Authorization': 'Bot %s'}", token)
        if token != self._token:
            raise discord.LoginFailure("Improper token has been passed.")
        self.logged_in = True

    async def close(self) -> None:
        self.closed = True

    async def fetch_guilds(self, *, limit=200, before=None, after=None, with_counts=True):
        assert self.logged_in
        for guild in self.guilds:
            yield SimpleNamespace(id=guild.id, name=guild.name)

    async def fetch_guild(self, guild_id: int, *, with_counts: bool = True):
        for guild in self.guilds:
            if guild.id == guild_id:
                return guild
        raise http_error(404)

    async def fetch_channel(self, channel_id: int):
        for guild in self.guilds:
            for channel in guild.channels:
                if channel.id == channel_id:
                    return channel
                for thread in getattr(channel, "threads", []):
                    if thread.id == channel_id:
                        return thread
        raise http_error(404, {"message": "Unknown Channel", "code": 10003})


def permissions(channel, target) -> SimpleNamespace:
    """discord.py's ``permissions_for`` for the bot's member or a role: the guild's default role (@everyone) reads
    the channel when ``channel.everyone`` says so (a thread: its parent's; a private thread: never)."""
    if target is channel.guild.default_role:
        parent = next((c for c in channel.guild.channels if c.id == getattr(channel, "parent_id", None)), None)
        if getattr(channel, "private", False):
            allowed = False
        else:
            allowed = bool(getattr(parent if parent is not None else channel, "everyone", True))
        return SimpleNamespace(view_channel=allowed, read_messages=allowed, read_message_history=allowed)
    return SimpleNamespace(view_channel=channel.readable, read_messages=channel.readable,
                           read_message_history=channel.readable)


def next_snowflake() -> int:
    return time_snowflake(datetime(2023, 1, 1, tzinfo=timezone.utc)) + next(_ids)


def build_server(*, messages: int = 250) -> SimpleNamespace:
    """A guild with a category, #general (``messages`` messages), #random, a forum and a few threads."""
    guild = FakeGuild("Test guild")
    category = FakeCategory(guild, "Text Channels")
    alice = FakeUser(111111111111111111, "alice", "Alice")
    bob = FakeUser(222222222222222222, "bob", None, nick="Bobby")
    bot = FakeUser(333333333333333333, "helperbot", bot=True)
    general = FakeTextChannel(guild, "general", category=category, topic="chat")
    general.fill(messages, [alice, bob, bot])
    random = FakeTextChannel(guild, "random", category=category)
    random.fill(40, [bob, alice], start=datetime(2024, 2, 1, tzinfo=timezone.utc))
    forum = FakeForumChannel(guild, "help-forum")
    token = make_token()
    client = FakeClient([guild], token)
    return SimpleNamespace(guild=guild, category=category, general=general, random=random, forum=forum,
                           users=[alice, bob, bot], alice=alice, bob=bob, bot=bot, token=token, client=client)
