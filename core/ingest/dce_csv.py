"""DiscordChatExporter's CSV format: ``AuthorID,Author,Date,Content,Attachments,Reactions``, one row per message.

The CSV carries no message id, no channel and no guild. The channel id comes from the file name as DCE names files
(``Guild - Parent - channel [CHANNELID]``, then `` (2023-01-01 to 2023-02-01)``/`` (after ...)``/`` (before ...)``
for a date range, then `` [part N]`` for a partition, then ``.csv``). Message ids are synthesized, deterministically,
so that importing the same CSV again finds the same rows: the message's timestamp as a Discord snowflake, with the
snowflake's worker and process bits set to 31/31 (``SYNTHETIC_BITS``, which marks the id as made up here), and in the
increment bits a hash of (channel, author). Messages of one bucket with the same timestamp (dates to the minute) take
the following milliseconds in turn. So a message deleted between two exports can shift only its own author's later
messages of that minute, never hand one author's text to another's row (and storage refuses an update that changes
the author: the rare hash collision is reported, not stored). The parts of one channel imported in one run share the
counters (DCE may split a minute across partitions). Ids made before this scheme (schema 0004) differ: re-importing
a CSV imported before stores its messages again.
Dates: since DCE 2.42.3 ISO 8601 with an offset; before, the exporter's date format and culture in its local time,
often to the minute: several formats are understood (unix seconds/milliseconds, "1/6/2023 2:03 PM",
"06/01/2023 14:03", "06-Jan-23 02:03 PM", "2023/01/06 14:03"); a date without an offset is taken in the timezone
given (``--csv-timezone``; default this machine's). CSV rows carry no bot flag (a stored one is kept), nickname,
replies or types. Lines end at LF, CRLF (DCE's on Windows) or a lone CR (old Mac files, line-end converters); the
file is read a chunk at a time, holding one read and the line being completed (``text_lines``).
"""
from __future__ import annotations

import codecs
import csv
import re
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import PurePath
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.ingest.sources import CHUNK_BYTES, PART_SUFFIX, CountingReader, DceImportError, ExportFile, Source, one_line
from core.ingest.records import ISO_TIMESTAMP, RecordError, mentioned_user_ids, normalize_timestamp
from storage.rows import ChannelRow, MessageRow, UserRow

CSV_HEADER = ["AuthorID", "Author", "Date", "Content", "Attachments", "Reactions"]
CHANNEL_IN_NAME = re.compile(r"\[(\d{1,20})\]\s*$")
ANY_CHANNEL_IN_NAME = re.compile(r"\[(\d{1,20})\]")
DATE_RANGE_SUFFIX = re.compile(r" \((?:after |before )?\d{4}-\d{2}-\d{2}(?: to \d{4}-\d{2}-\d{2})?\)$")
UTC_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?$", re.IGNORECASE)
DISCORD_EPOCH_MS = 1_420_070_400_000
SYNTHETIC_BITS = 0x3FF000       # worker 31, process 31: bits 12-21 of a snowflake
ID_BUCKETS = 4093               # the increment bits: a hash of (channel, author), prime-sized
COUNTER_LIMIT = 100_000         # timestamps remembered for collision counters (exports are in time order)
MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
LOCAL_DATE = re.compile(
    r"^(\d{1,4})[/.\-](\d{1,2}|[A-Za-z]{3})[/.\-](\d{2,4})[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")
REACTION = re.compile(r"\s*(.+?) \((\d+)\)\s*(?:,|$)")
AFTER_LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")  # the places after an LF, a CRLF or a lone CR
LINE_LIMIT = 1 << 22            # characters: a row is a few KB; a longer line is not a DCE CSV (and would pile up)
csv.field_size_limit(1 << 24)   # a message is at most a few KB; this only bounds damaged files


def parse_timezone(text: str | None) -> tzinfo | None:
    """``--csv-timezone``: an IANA name ("Europe/Berlin"), "UTC", an offset ("+02:00", "UTC-5"), or "local"/None
    for this machine's zone (None). Raises ValueError with a one-line reason."""
    value = (text or "").strip()
    if not value or value.lower() == "local":
        return None
    if value.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    offset = UTC_OFFSET.match(value)
    if offset:
        sign, hours, minutes = offset.groups()
        if int(hours) > 23 or int(minutes or 0) > 59:
            raise ValueError(f"UTC offset {value!r} is out of range")
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (an IANA name like Europe/Berlin, UTC, or +02:00)") from None


def channel_from_name(stream_name: str) -> tuple[int, list[str]]:
    """The channel id and the name's " - " parts before it, from a DCE file name (date range, partition allowed)."""
    stem = stream_name.rsplit(".", 1)[0].rstrip()
    stem = PART_SUFFIX.sub("", stem)
    stem = DATE_RANGE_SUFFIX.sub("", stem)
    match = CHANNEL_IN_NAME.search(stem) or next(reversed(list(ANY_CHANNEL_IN_NAME.finditer(stem))), None)
    if not match:
        raise DceImportError("a DCE CSV export is named \"... [CHANNELID].csv\"; this name has no channel id")
    return int(match.group(1)), stem[:match.start()].strip().split(" - ")


def read_csv_export(source: Source, *, zone: tzinfo | None = None,
                    converters: dict[int, "CsvConverter"] | None = None) -> ExportFile:
    """``zone``: the timezone of dates without an offset (None: this machine's). ``converters``: per channel, shared
    by the files of one import run so that a channel's partitions count ids on."""
    stream_name = PurePath(source.name.replace("\\", "/")).name
    channel_id, parts = channel_from_name(stream_name)
    channel = ChannelRow(channel_id, None, "Unknown", parts[-1] if parts[-1] else str(channel_id),
                         category=parts[1] if len(parts) >= 3 else None)
    stream = source.open()
    rows = csv.reader(text_lines(stream))
    try:
        header = next(rows, None)
    except (csv.Error, DceImportError) as exc:
        stream.close()
        raise DceImportError(f"not a DiscordChatExporter CSV export ({one_line(exc)})") from None
    if header != CSV_HEADER:
        stream.close()
        shown = ",".join(header)[:80] if header else "nothing"
        raise DceImportError(f"not a DiscordChatExporter CSV export: the header is {shown!r}, "
                             f"expected {','.join(CSV_HEADER)!r}")
    converter = converters.setdefault(channel_id, CsvConverter(zone)) if converters is not None \
        else CsvConverter(zone)
    return ExportFile(None, [channel], channel_id, numbered_rows(rows, stream), converter.convert,
                      lambda: stream.position)


def text_lines(stream: CountingReader) -> Iterator[str]:
    """Lines as the csv module wants them, each with its end: LF, CRLF or a lone CR (old Mac files), so that a
    quoted field keeps its line breaks as written; Unicode line separators inside a message are text, not row
    ends. Memory: one read plus the line being completed, which may not pass LINE_LIMIT."""
    decoder, pending = codecs.getincrementaldecoder("utf-8")(), ""
    try:
        while chunk := stream.read(CHUNK_BYTES):
            lines, pending = split_lines(pending + decoder.decode(chunk))
            yield from lines
            if len(pending) > LINE_LIMIT:
                raise DceImportError(f"a line longer than {LINE_LIMIT:,} characters near byte {stream.position}: "
                                     f"not a DiscordChatExporter CSV export")
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise DceImportError(f"not UTF-8 text near byte {stream.position}: {one_line(exc)}") from None
    if pending:
        yield pending


def split_lines(text: str) -> tuple[list[str], str]:
    """The complete lines of ``text`` with their ends, and the rest. A final CR waits in the rest: the next read
    may begin with the LF of its CRLF."""
    held = "\r" if text.endswith("\r") else ""
    body = text[:-1] if held else text
    if body.count("\r") == body.count("\r\n"):  # LF or CRLF (DCE's own): split at LF
        end = "\n"
    elif "\n" not in body:  # CR only: split at CR
        end = "\r"
    else:  # both kinds: split after every line end (slower)
        lines = AFTER_LINE_END.split(body)
        return lines[:-1], lines[-1] + held
    lines = body.split(end)
    rest = lines.pop()
    return [line + end for line in lines], rest + held


def numbered_rows(rows, stream: CountingReader) -> Iterator[tuple[int, list[str]]]:
    with stream:
        try:
            for row in rows:
                if row:  # a blank line is no message
                    yield rows.line_num, row
        except csv.Error as exc:
            raise DceImportError(f"broken CSV near byte {stream.position}: {one_line(exc)}") from None


class CsvConverter:
    """Turns numbered CSV rows into message rows, synthesizing ids (state: the per-timestamp collision counters)."""

    def __init__(self, zone: tzinfo | None = None):
        self.last_slot: dict[int, int] = {}   # bucket → the millisecond its last message took
        self.zone = zone

    def convert(self, item: tuple[int, list[str]], channel_id: int) -> tuple[MessageRow, list[UserRow]]:
        line, row = item
        if len(row) != len(CSV_HEADER):
            raise RecordError(f"line {line}: {len(row)} fields, expected {len(CSV_HEADER)}")
        author_id, author, date, content, attachments, reactions = row
        try:
            user_id = int(author_id)
        except ValueError:
            raise RecordError(f"line {line}: author id {author_id[:30]!r} is not a Discord id") from None
        created_at = parse_csv_date(date, line, self.zone)
        name = author.rsplit("#", 1)[0] if re.search(r"#\d{4}$", author) else author
        # the CSV names the account only: no nickname, no bot flag (None keeps what a JSON import stored)
        user = UserRow(user_id, name or str(user_id), None, is_bot=None)
        message = MessageRow(
            id=self.synthetic_id(created_at, user_id, channel_id, line), channel_id=channel_id, author_id=user_id,
            created_at=created_at, edited_at=None, type="Default", content=content,
            mentions=tuple(mentioned_user_ids((), content)),
            attachment_urls=tuple(url.strip() for url in attachments.split(",") if url.strip()),
            reactions=tuple((emoji, int(count)) for emoji, count in REACTION.findall(reactions)))
        return message, [user]

    def synthetic_id(self, created_at: str, author_id: int, channel_id: int, line: int) -> int:
        moment = datetime.fromisoformat(created_at)
        millis = int(moment.timestamp() * 1000 + 0.5)
        if millis < DISCORD_EPOCH_MS or millis >= DISCORD_EPOCH_MS + (1 << 41) - (1 << 16):
            raise RecordError(f"line {line}: date {created_at} is outside Discord's time range")
        if len(self.last_slot) >= COUNTER_LIMIT:
            self.last_slot.clear()
        bucket = (author_id * 0x9E3779B1 + channel_id) % ID_BUCKETS
        # an author's messages of one minute (dates to the minute) take that minute's milliseconds in turn
        slot = max(millis, self.last_slot.get(bucket, -1) + 1) if bucket in self.last_slot else millis
        self.last_slot[bucket] = slot
        return ((slot - DISCORD_EPOCH_MS) << 22) | SYNTHETIC_BITS | bucket


def parse_csv_date(text: str, line: int, zone: tzinfo | None = None) -> str:
    """A CSV date in any of DCE's formats → UTC ISO with microseconds (as core.ingest.records stores timestamps)."""
    value = text.strip()
    try:
        if value.isdigit():  # DCE's "unix" / "unixms" date formats
            number = int(value)
            seconds = number / 1000 if len(value) > 11 else number
            return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")
        match = LOCAL_DATE.match(value)
        if match:
            return in_utc(local_date(*match.groups()), zone)
        iso = ISO_TIMESTAMP.match(value)
        if iso and iso.group(8) is None:  # ISO without an offset: local time too
            return in_utc(datetime.fromisoformat(normalize_timestamp(value)).replace(tzinfo=None), zone)
        return normalize_timestamp(value) or ""
    except (RecordError, ValueError, OverflowError, OSError) as exc:
        raise RecordError(f"line {line}: date {value[:40]!r} not understood ({one_line(exc)})") from None


def in_utc(moment: datetime, zone: tzinfo | None) -> str:
    """A local wall-clock time in ``zone`` (None: this machine's, with its daylight-saving rules) → UTC ISO."""
    aware = moment.astimezone() if zone is None else moment.replace(tzinfo=zone)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds")


def local_date(first, second, third, hour, minute, second_of_minute, meridiem) -> datetime:
    if len(first) == 4:                         # 2023/01/06
        year, month, day = int(first), int(second), int(third)
    elif not second.isdigit():                  # 06-Jan-23
        day, month, year = int(first), MONTHS.get(second.lower(), 0), int(third)
    elif int(first) <= 12 and (meridiem or int(second) > 12):  # 1/6/2023 2:03 PM (US order)
        month, day, year = int(first), int(second), int(third)
    else:                                       # 06/01/2023 14:03 (most cultures put the day first)
        day, month, year = int(first), int(second), int(third)
    year += 2000 if year < 100 else 0
    hours = int(hour) % 12 + (12 if meridiem and meridiem.lower() == "pm" else 0) if meridiem else int(hour)
    return datetime(year, month, day, hours, int(minute), int(second_of_minute or 0))
