"""Live fetch logic: which channels and threads to fetch, in which order, and how to resume after a crash.

It works over plain rows and the small ``MessageSource`` protocol below; ``core.fetching.discord_source`` adapts discord.py
to it, and the tests use fakes, so nothing here talks to Discord. Every page (at most 100 messages) is written
together with the channel's checkpoint in one transaction: a killed fetch loses nothing and a rerun duplicates
nothing. Per channel: incremental (``after`` the newest stored id, oldest first), then backfill (``before`` the
oldest stored id, newest first) until the start of the channel.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable, Protocol

from core.config.app_config import FetchConfig
from core.ingest.records import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow
from storage.channels import FetchState, fetch_state
from storage.messages import Checkpoint, write_batch

MAX_PAGE = 100  # Discord's most messages per history request
# Channels that hold threads (forum and media channels hold nothing else).
THREAD_PARENT_KINDS = frozenset({"GuildTextChat", "GuildNews", "GuildForum", "GuildMedia"})
THREAD_KINDS = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})

FetchedMessage = tuple[MessageRow, list[UserRow]]


@dataclass(frozen=True)
class SourceChannel:
    """A channel or thread as the source lists it."""
    row: ChannelRow
    guild: GuildRow | None = None
    readable: bool | None = None      # None: the source cannot tell; the first request finds out
    has_history: bool = True          # forum, media and category channels hold no messages of their own
    last_message_id: int | None = None  # lets a fully fetched, quiet channel be skipped without a request


class SourceError(Exception):
    """A request to the source failed; messages never carry the token."""


class ChannelForbidden(SourceError):
    """The bot may not read this channel (HTTP 403)."""


class ChannelNotFound(SourceError):
    """The channel does not exist or the bot cannot see it (HTTP 404)."""


class TransientError(SourceError):
    """Worth retrying: 5xx, a timeout, a reset connection."""


class AuthenticationFailed(SourceError):
    """The token was rejected."""


class MessageSource(Protocol):
    async def list_channels(self) -> list[SourceChannel]: ...

    async def resolve_channel(self, channel_id: int) -> SourceChannel: ...

    async def list_threads(self, channel: SourceChannel) -> list[SourceChannel]: ...

    async def fetch_page(self, channel: SourceChannel, *, after: int | None, before: int | None,
                         limit: int) -> list[FetchedMessage]:
        """With ``after``: the oldest messages newer than it, oldest first. Otherwise the newest messages older than
        ``before`` (or the newest of all), newest first. Fewer than ``limit`` means the end was reached."""
        ...


@dataclass(frozen=True)
class FetchProgress:
    channel_id: int
    channel_name: str
    channel_messages: int
    total_messages: int
    messages_per_second: float


@dataclass
class FetchSummary:
    channels: int = 0
    threads: int = 0
    messages_seen: int = 0
    messages_new: int = 0
    messages_updated: int = 0
    messages_withheld: int = 0  # of forgotten people: consent says never store them again
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class GaveUp(SourceError):
    """Transient errors outlasted the retries."""


def channel_label(channel: SourceChannel) -> str:
    return f"#{channel.row.name} ({channel.row.id})"


class Fetcher:
    """One fetch run over a database connection and a source."""

    def __init__(self, conn: sqlite3.Connection, source: MessageSource, config: FetchConfig | None = None, *,
                 on_progress: Callable[[FetchProgress], None] | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.conn, self.source = conn, source
        self.config = config or FetchConfig()
        self.on_progress, self.on_notice = on_progress, on_notice
        self.sleep, self.clock = sleep, clock
        self.summary = FetchSummary()
        self._started = clock()
        self._done: set[int] = set()

    async def run(self, channel_ids: list[int]) -> FetchSummary:
        """Fetch the given channels (and their threads); a channel that fails is skipped, the rest goes on."""
        self._started = self.clock()
        listing = {channel.row.id: channel for channel in await self._call(None, self.source.list_channels)}
        for channel_id in dict.fromkeys(channel_ids):
            channel = listing.get(channel_id)
            if channel is None:
                try:
                    channel = await self._call(None, lambda: self.source.resolve_channel(channel_id))
                except (ChannelNotFound, ChannelForbidden, GaveUp) as exc:
                    self._skip(channel_id, None, f"not visible to the bot ({exc})")
                    continue
            await self._fetch_with_threads(channel)
        self.summary.seconds = round(self.clock() - self._started, 3)
        return self.summary

    async def _fetch_with_threads(self, channel: SourceChannel) -> None:
        await self._fetch_channel(channel)
        if not (self.config.include_threads and channel.row.kind in THREAD_PARENT_KINDS):
            return
        if channel.readable is False:
            return
        try:
            threads = await self._call(channel, lambda: self.source.list_threads(channel))
        except (ChannelForbidden, ChannelNotFound, GaveUp) as exc:
            self._skip(channel.row.id, channel.row.name, f"could not list its threads ({exc})")
            return
        for thread in sorted(threads, key=lambda t: t.row.id):
            await self._fetch_channel(thread)

    async def _fetch_channel(self, channel: SourceChannel) -> None:
        if channel.row.id in self._done:
            return
        self._done.add(channel.row.id)
        self._save_channel(channel)
        if channel.readable is False:
            self._skip(channel.row.id, channel.row.name,
                       "the bot may not read it (needs View Channel and Read Message History)")
            return
        if not channel.has_history:
            return
        try:
            fetched = await self._fetch_history(channel)
        except (ChannelForbidden, ChannelNotFound) as exc:
            self._skip(channel.row.id, channel.row.name, f"no access ({exc})")
            return
        except GaveUp as exc:
            self._skip(channel.row.id, channel.row.name, str(exc))
            return
        if channel.row.kind in THREAD_KINDS:
            self.summary.threads += 1
        else:
            self.summary.channels += 1
        self._notice(f"{channel_label(channel)}: {fetched} messages fetched")

    async def _fetch_history(self, channel: SourceChannel) -> int:
        state = fetch_state(self.conn, channel.row.id)
        if (state.backfill_complete and state.newest_id is not None and channel.last_message_id is not None
                and state.newest_id >= channel.last_message_id):
            return 0  # fully fetched and nothing new since: no request needed
        counter = [0]
        fresh = state.newest_id is None
        if not fresh:
            state = await self._incremental(channel, state, counter)
        if not state.backfill_complete:
            state = await self._backfill(channel, state, counter)
        if fresh and state.newest_id is not None:
            await self._incremental(channel, state, counter)  # what was posted while the backfill ran
        return counter[0]

    async def _incremental(self, channel: SourceChannel, state: FetchState, counter: list[int]) -> FetchState:
        limit = min(max(self.config.page_size, 1), MAX_PAGE)
        while True:
            page = await self._call(channel, lambda: self.source.fetch_page(
                channel, after=state.newest_id, before=None, limit=limit))
            if not page:
                return state
            ids = [row.id for row, _ in page]
            state = FetchState(max(ids), state.oldest_id if state.oldest_id is not None else min(ids),
                               state.backfill_complete)
            self._write(channel, page, state, counter)
            if len(page) < limit:
                return state

    async def _backfill(self, channel: SourceChannel, state: FetchState, counter: list[int]) -> FetchState:
        limit = min(max(self.config.page_size, 1), MAX_PAGE)
        while True:
            page = await self._call(channel, lambda: self.source.fetch_page(
                channel, after=None, before=state.oldest_id, limit=limit))
            ids = [row.id for row, _ in page]
            reached_start = len(page) < limit
            newest = state.newest_id if state.newest_id is not None else max(ids, default=None)
            state = FetchState(newest, min(ids) if ids else state.oldest_id, reached_start)
            self._write(channel, page, state, counter)
            if reached_start:
                return state

    def _write(self, channel: SourceChannel, page: list[FetchedMessage], state: FetchState,
               counter: list[int]) -> None:
        """One page and the checkpoint that covers it, in one transaction."""
        batch = MessageBatch()
        for row, users in page:
            batch.messages.append(row)
            for user in users:
                batch.users.setdefault(user.id, user)
        checkpoint = Checkpoint(channel.row.id, state.newest_id, state.oldest_id, state.backfill_complete)
        result = write_batch(self.conn, batch, checkpoint)
        self.summary.messages_seen += len(page)
        self.summary.messages_new += result.new
        self.summary.messages_updated += result.updated
        self.summary.messages_withheld += result.withheld
        counter[0] += len(page)
        if self.on_progress and page:
            elapsed = max(self.clock() - self._started, 1e-9)
            self.on_progress(FetchProgress(channel.row.id, channel.row.name, counter[0], self.summary.messages_seen,
                                           self.summary.messages_seen / elapsed))

    def _save_channel(self, channel: SourceChannel) -> None:
        batch = MessageBatch(channels={channel.row.id: channel.row})
        if channel.guild is not None:
            batch.guilds[channel.guild.id] = channel.guild
        write_batch(self.conn, batch)

    async def _call(self, channel: SourceChannel | None, request: Callable[[], Awaitable]):
        """Run one request, retrying transient failures with exponential backoff; then GaveUp."""
        attempt = 0
        while True:
            try:
                return await request()
            except TransientError as exc:
                attempt += 1
                if attempt > self.config.max_retries:
                    raise GaveUp(f"gave up after {self.config.max_retries} retries ({exc})") from None
                delay = self.config.retry_base_seconds * 2 ** (attempt - 1)
                where = channel_label(channel) if channel else "Discord"
                self._notice(f"{where}: temporary error ({exc}); retry {attempt}/{self.config.max_retries} "
                             f"in {delay:g}s")
                await self.sleep(delay)

    def _skip(self, channel_id: int, name: str | None, reason: str) -> None:
        self.summary.skipped.append({"channel_id": channel_id, "name": name, "reason": reason})
        label = f"#{name} ({channel_id})" if name else str(channel_id)
        self._notice(f"skipped {label}: {reason}")

    def _notice(self, line: str) -> None:
        if self.on_notice:
            self.on_notice(line)
