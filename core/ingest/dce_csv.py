"""DiscordChatExporter's CSV format: ``AuthorID,Author,Date,Content,Attachments,Reactions``, one row per message.

The CSV carries no message id, no channel and no guild. The channel id comes from the file name
(``Guild - Category - channel [CHANNELID].csv``, as DCE names files). Message ids are synthesized, deterministically,
so that importing the same CSV again finds the same rows: the message's timestamp as a Discord snowflake, with the
snowflake's worker and process bits set to 31/31 (``SYNTHETIC_BITS``, which marks the id as made up here) and a
collision counter (the message's rank among the file's messages with the same timestamp) in the increment bits.
DCE formats CSV dates with the exporter's date format and culture, often to the minute: several formats are
understood (ISO 8601, unix seconds/milliseconds, "1/6/2023 2:03 PM", "06/01/2023 14:03", "06-Jan-23 02:03 PM",
"2023/01/06 14:03"); a date without an offset is taken as UTC. Limits: an overlapping CSV export that starts in the
middle of a minute ranks that minute's messages differently, and CSV rows carry no bot flag, replies or types.
"""
from __future__ import annotations

import codecs
import csv
import re
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Iterator

from core.ingest.sources import CHUNK_BYTES, CountingReader, DceImportError, ExportFile, Source, one_line
from core.ingest.records import RecordError, mentioned_user_ids, normalize_timestamp
from storage.rows import ChannelRow, MessageRow, UserRow

CSV_HEADER = ["AuthorID", "Author", "Date", "Content", "Attachments", "Reactions"]
CHANNEL_IN_NAME = re.compile(r"\[(\d{1,20})\]\s*$")
DISCORD_EPOCH_MS = 1_420_070_400_000
SYNTHETIC_BITS = 0x3FF000       # worker 31, process 31: bits 12-21 of a snowflake
COUNTER_LIMIT = 100_000         # timestamps remembered for collision counters (exports are in time order)
MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
LOCAL_DATE = re.compile(
    r"^(\d{1,4})[/.\-](\d{1,2}|[A-Za-z]{3})[/.\-](\d{2,4})[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")
REACTION = re.compile(r"\s*(.+?) \((\d+)\)\s*(?:,|$)")
csv.field_size_limit(1 << 24)   # a message is at most a few KB; this only bounds damaged files


def read_csv_export(source: Source) -> ExportFile:
    stream_name = PurePath(source.name.replace("\\", "/")).name
    match = CHANNEL_IN_NAME.search(stream_name.rsplit(".", 1)[0])
    if not match:
        raise DceImportError("a DCE CSV export is named \"... [CHANNELID].csv\"; this name has no channel id")
    channel_id = int(match.group(1))
    parts = stream_name[:match.start()].strip().split(" - ")
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
    converter = CsvConverter()
    return ExportFile(None, [channel], channel_id, numbered_rows(rows, stream), converter.convert,
                      lambda: stream.position)


def text_lines(stream: CountingReader) -> Iterator[str]:
    """Lines split at "\\n" only (Unicode line separators inside a message are text, not row ends)."""
    decoder, pending = codecs.getincrementaldecoder("utf-8")(), ""
    try:
        while chunk := stream.read(CHUNK_BYTES):
            lines = (pending + decoder.decode(chunk)).split("\n")
            pending = lines.pop()
            for line in lines:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise DceImportError(f"not UTF-8 text near byte {stream.position}: {one_line(exc)}") from None
    if pending:
        yield pending


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

    def __init__(self):
        self.seen: dict[int, int] = {}

    def convert(self, item: tuple[int, list[str]], channel_id: int) -> tuple[MessageRow, list[UserRow]]:
        line, row = item
        if len(row) != len(CSV_HEADER):
            raise RecordError(f"line {line}: {len(row)} fields, expected {len(CSV_HEADER)}")
        author_id, author, date, content, attachments, reactions = row
        try:
            user_id = int(author_id)
        except ValueError:
            raise RecordError(f"line {line}: author id {author_id[:30]!r} is not a Discord id") from None
        created_at = parse_csv_date(date, line)
        name = author.rsplit("#", 1)[0] if re.search(r"#\d{4}$", author) else author
        user = UserRow(user_id, name or str(user_id), name or None)
        message = MessageRow(
            id=self.synthetic_id(created_at, line), channel_id=channel_id, author_id=user_id,
            created_at=created_at, edited_at=None, type="Default", content=content,
            mentions=tuple(mentioned_user_ids((), content)),
            attachment_urls=tuple(url.strip() for url in attachments.split(",") if url.strip()),
            reactions=tuple((emoji, int(count)) for emoji, count in REACTION.findall(reactions)))
        return message, [user]

    def synthetic_id(self, created_at: str, line: int) -> int:
        moment = datetime.fromisoformat(created_at)
        millis = int(moment.timestamp() * 1000 + 0.5)
        if millis < DISCORD_EPOCH_MS or millis >= DISCORD_EPOCH_MS + (1 << 41):
            raise RecordError(f"line {line}: date {created_at} is outside Discord's time range")
        if len(self.seen) >= COUNTER_LIMIT:
            self.seen.clear()
        rank = self.seen.get(millis, 0)
        self.seen[millis] = rank + 1
        return ((millis - DISCORD_EPOCH_MS + (rank >> 12)) << 22) | SYNTHETIC_BITS | (rank & 0xFFF)


def parse_csv_date(text: str, line: int) -> str:
    """A CSV date in any of DCE's formats → UTC ISO with microseconds (as core.ingest.records stores timestamps)."""
    value = text.strip()
    try:
        if value.isdigit():  # DCE's "unix" / "unixms" date formats
            number = int(value)
            seconds = number / 1000 if len(value) > 11 else number
            return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")
        match = LOCAL_DATE.match(value)
        if not match:
            return normalize_timestamp(value) or ""
        return local_date(*match.groups())
    except (RecordError, ValueError, OverflowError, OSError) as exc:
        raise RecordError(f"line {line}: date {value[:40]!r} not understood ({one_line(exc)})") from None


def local_date(first, second, third, hour, minute, second_of_minute, meridiem) -> str:
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
    moment = datetime(year, month, day, hours, int(minute), int(second_of_minute or 0), tzinfo=timezone.utc)
    return moment.isoformat(timespec="microseconds")
