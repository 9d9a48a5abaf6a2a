"""Importing DiscordChatExporter (DCE) exports into the workspace database: JSON and CSV files, folders, .zip.

Owns the mapping from a DCE message object to the stored rows (``message_from_dce``; the live fetcher's mapping
uses the same core.records normalisers, so one message stores the same row either way) and the import loop. Files
are streamed (core.dce_json, core.dce_csv) and written in batches of BATCH_SIZE messages, each one write_batch
transaction. A file that fails midway keeps the batches already committed; importing it again completes it exactly,
because messages are keyed by their Discord id (a rerun adds only what is missing and updates what was edited).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from core.dce_csv import read_csv_export
from core.dce_json import read_json_export
from core.import_sources import DceImportError, ExportFile, Source, discover, one_line
from core.records import (MESSAGE_TYPES, RecordError, mentioned_user_ids, normalize_message_type,
                          normalize_timestamp, snowflake)
from storage.messages import write_batch
from storage.rows import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow

__all__ = ["DceImportError", "ImportProgress", "ImportReport", "import_paths", "message_from_dce", "open_export"]

BATCH_SIZE = 5000  # one transaction each: big enough to amortise the commit, small enough to lose little to a kill
THREAD_KINDS = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})
MAX_WARNINGS = 20  # skipped-message reasons kept in the report; the count covers them all
USER_CACHE_LIMIT = 100_000  # distinct (id, name, nickname, bot) seen; authors repeat, so most lookups hit
CANONICAL_TYPES = frozenset(MESSAGE_TYPES.values())
_users: dict[tuple, UserRow] = {}


@dataclass
class ImportReport:
    files: int = 0                # export files found (JSON, CSV, archive members)
    messages_seen: int = 0        # message records read, skipped ones included
    messages_new: int = 0
    messages_updated: int = 0
    channels: int = 0             # distinct channels of the files read
    authors: int = 0              # distinct authors of the messages read
    skipped: int = 0              # message records that could not be stored (see warnings)
    errors: list[str] = field(default_factory=list)    # one line per file or path that failed
    seconds: float = 0.0
    files_failed: int = 0
    warnings: list[str] = field(default_factory=list)  # the first MAX_WARNINGS skipped-message reasons

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImportProgress:
    file: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    messages_seen: int


# --- mapping -----------------------------------------------------------------------------------------------------

def message_from_dce(raw: dict, channel_id: int) -> tuple[MessageRow, list[UserRow]]:
    """One DCE message object → its row, plus the users it names (the author first, then mentioned users)."""
    if not isinstance(raw, dict):
        raise RecordError("a message is not a JSON object")
    message_id = snowflake(raw.get("id"), "message id")
    try:
        author = user_from_dce(raw.get("author"), "author")
        content = raw.get("content")
        if content is None:
            content = ""
        elif not isinstance(content, str):
            raise RecordError("content is not text")
        mentioned = [user_from_dce(user, "mentioned user") for user in listed(raw, "mentions")]
        # mentioned_user_ids also reads raw <@id> markup; most messages have neither
        mentions = tuple(mentioned_user_ids([user.id for user in mentioned], content)) \
            if mentioned or "<@" in content else ()
        reference = raw.get("reference")
        if reference is not None and not isinstance(reference, dict):
            raise RecordError("reference is not an object")
        reply_to = reference.get("messageId") if reference else None
        row = MessageRow(
            id=message_id, channel_id=channel_id, author_id=author.id,
            created_at=timestamp(raw.get("timestamp"), "timestamp") or missing("timestamp"),
            edited_at=timestamp(raw.get("timestampEdited"), "timestampEdited"),
            type=message_type(raw.get("type")),
            content=content,
            reply_to_id=None if reply_to is None else snowflake(reply_to, "reference.messageId"),
            mentions=mentions,
            attachment_urls=tuple(attachment_url(item) for item in listed(raw, "attachments")),
            pinned=raw.get("isPinned") is True,
            reactions=tuple(reaction_from_dce(item) for item in listed(raw, "reactions")))
    except RecordError as exc:
        raise RecordError(f"message {message_id}: {exc}") from None
    return row, [author, *mentioned]


def user_from_dce(raw, what: str) -> UserRow:
    """Display name: the export's nickname (guild nick or global name) when present, else the user name."""
    if not isinstance(raw, dict):
        raise RecordError(f"{what} is not an object")
    key = (raw.get("id"), raw.get("name"), raw.get("nickname"), raw.get("isBot"))
    try:
        return _users[key]
    except KeyError:
        pass
    except TypeError:  # a list or object where text belongs: build the row, never cache it
        return new_user(raw, what)
    if len(_users) >= USER_CACHE_LIMIT:
        _users.clear()
    user = _users[key] = new_user(raw, what)
    return user


def new_user(raw: dict, what: str) -> UserRow:
    user_id = snowflake(raw.get("id"), f"{what} id")
    name, nickname = raw.get("name"), raw.get("nickname")
    name = name if isinstance(name, str) and name else str(user_id)
    return UserRow(user_id, name, nickname if isinstance(nickname, str) and nickname else name,
                   raw.get("isBot") is True)


def reaction_from_dce(raw) -> tuple[str, int]:
    """(emoji, count); the emoji as discord.py's ``str(emoji)`` writes it: the character, or ``<:name:id>``."""
    emoji = raw.get("emoji") if isinstance(raw, dict) else None
    if not isinstance(emoji, dict) or not isinstance(emoji.get("name"), str):
        raise RecordError("a reaction has no emoji name")
    count = raw.get("count", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise RecordError(f"a reaction count is not a count: {str(count)[:20]!r}")
    emoji_id = emoji.get("id")
    if not emoji_id:
        return emoji["name"], count
    animated = "a" if emoji.get("isAnimated") is True else ""
    return f"<{animated}:{emoji['name']}:{snowflake(emoji_id, 'emoji id')}>", count


def attachment_url(raw) -> str:
    url = raw.get("url") if isinstance(raw, dict) else None
    if not isinstance(url, str):
        raise RecordError("an attachment has no url")
    return url


def listed(raw: dict, key: str) -> list:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{key} is not a list")
    return value


def timestamp(value, what: str) -> str | None:
    """core.records.normalize_timestamp's result; the C ISO parser first, as it is several times faster."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what} is not text")
    try:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None and len(value) >= 19:
            return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
        return normalize_timestamp(value)  # other shapes (and the one clear error message)
    except OverflowError:
        raise RecordError(f"{what} {value[:40]!r} is out of range") from None


def missing(what: str):
    raise RecordError(f"no {what}")


def message_type(value) -> str:
    if type(value) is str and value in CANONICAL_TYPES:
        return value
    if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)):
        raise RecordError(f"type {str(value)[:20]!r} is neither a name nor a number")
    return normalize_message_type(value)


def rows_from_header(header: dict) -> tuple[GuildRow | None, list[ChannelRow], int]:
    """The guild, the channel (a thread's parent as a placeholder first) and the channel id of a JSON export."""
    guild, channel = header.get("guild"), header["channel"]
    guild_row = None
    if isinstance(guild, dict) and guild.get("id") is not None:
        guild_row = GuildRow(snowflake(guild["id"], "guild id"), text(guild.get("name")),
                             text(guild.get("iconUrl")) or None)
    guild_id = guild_row.id if guild_row else None
    channel_id = snowflake(channel.get("id"), "channel id")
    kind = text(channel.get("type")) or "Unknown"
    rows, parent_id, category = [], None, text(channel.get("category")) or None
    if kind in THREAD_KINDS and channel.get("categoryId"):
        # DCE names a thread's parent channel in the category fields; the parent's own file may come later
        parent_id = snowflake(channel["categoryId"], "thread parent id")
        rows.append(ChannelRow(parent_id, guild_id, "Unknown", category or str(parent_id)))
        category = None
    rows.append(ChannelRow(channel_id, guild_id, kind, text(channel.get("name")) or str(channel_id), parent_id,
                           category, text(channel.get("topic")) or None))
    return guild_row, rows, channel_id


def text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


# --- reading -----------------------------------------------------------------------------------------------------

def open_export(source: Source) -> ExportFile:
    """Open one export file (JSON or CSV, told by its name or else by its first bytes)."""
    kind = source.suffix or sniff(source)
    if kind == ".csv":
        return read_csv_export(source)
    header, messages, position = read_json_export(source)
    try:
        guild, channels, channel_id = rows_from_header(header)
    except RecordError as exc:
        raise DceImportError(f"bad export header: {exc}") from None
    return ExportFile(guild, channels, channel_id, messages, message_from_dce, position)


def sniff(source: Source) -> str:
    with source.open() as stream:
        start = stream.read(64).lstrip()
    if start.startswith(b"AuthorID,"):
        return ".csv"
    if start.startswith((b"{", b"[")) or not start:
        return ".json"
    raise DceImportError("not a DiscordChatExporter export (neither JSON nor CSV)")


# --- importing ---------------------------------------------------------------------------------------------------

def import_paths(conn, paths: Iterable[Path | str], *, on_progress: Callable[[ImportProgress], None] | None = None,
                 batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import every export under ``paths``; a file that fails is reported (one line) and the others go on."""
    started = time.perf_counter()
    sources, errors = discover([Path(path) for path in paths])
    run = ImportRun(conn, ImportReport(files=len(sources), errors=errors, files_failed=len(errors)),
                    sum(source.size for source in sources), len(sources), on_progress, batch_size)
    for source in sources:
        try:
            run.import_source(source)
        except DceImportError as exc:
            run.report.errors.append(f"{source.name}: {one_line(exc)}")
            run.report.files_failed += 1
        run.finish_file(source)
    run.report.channels, run.report.authors = len(run.channels), len(run.authors)
    run.report.seconds = round(time.perf_counter() - started, 3)
    return run.report


class ImportRun:
    """The state of one import: counts, progress, and the batch being filled."""

    def __init__(self, conn, report: ImportReport, bytes_total: int, files_total: int, on_progress, batch_size: int):
        self.conn, self.report, self.on_progress, self.batch_size = conn, report, on_progress, batch_size
        self.bytes_total, self.files_total, self.bytes_done, self.files_done = bytes_total, files_total, 0, 0
        self.channels: set[int] = set()
        self.authors: set[int] = set()

    def import_source(self, source: Source) -> None:
        export = open_export(source)
        self.channels.add(export.channel_id)
        batch, convert, channel_id, report = self.new_batch(export), export.convert, export.channel_id, self.report
        messages, users = batch.messages, batch.users
        for item in export.items:
            report.messages_seen += 1
            try:
                row, named = convert(item, channel_id)
            except RecordError as exc:
                self.skip(source, exc)
                continue
            messages.append(row)
            for user in named:
                users[user.id] = user
            if len(messages) >= self.batch_size:
                self.write(batch, source, export)
                batch = self.new_batch(export)
                messages, users = batch.messages, batch.users
        if messages:
            self.write(batch, source, export)

    @staticmethod
    def new_batch(export: ExportFile) -> MessageBatch:
        batch = MessageBatch(channels={channel.id: channel for channel in export.channels})
        if export.guild is not None:
            batch.guilds[export.guild.id] = export.guild
        return batch

    def write(self, batch: MessageBatch, source: Source, export: ExportFile) -> None:
        result = write_batch(self.conn, batch)
        self.report.messages_new += result.new
        self.report.messages_updated += result.updated
        self.authors.update(row.author_id for row in batch.messages)
        self.progress(source, self.bytes_done + min(export.position(), source.size))

    def skip(self, source: Source, error: RecordError) -> None:
        self.report.skipped += 1
        if len(self.report.warnings) < MAX_WARNINGS:
            self.report.warnings.append(f"{source.name}: skipped {one_line(error)}")

    def finish_file(self, source: Source) -> None:
        self.files_done += 1
        self.bytes_done += source.size
        self.progress(source, self.bytes_done)

    def progress(self, source: Source, bytes_done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(ImportProgress(source.name, self.files_done, self.files_total, bytes_done,
                                            self.bytes_total, self.report.messages_seen))
