"""Importing DiscordChatExporter (DCE) exports into the workspace database: JSON and CSV files, folders, .zip.

Owns the import loop; the mapping from DCE objects to rows is ``core.ingest.dce_mapping``. Files are streamed
(``core.ingest.dce_json``, ``core.ingest.dce_csv``) and written in batches of BATCH_SIZE messages, each one
``write_batch`` transaction. A file that fails midway keeps the batches already committed; importing it again completes it exactly,
because messages are keyed by their Discord id (a rerun adds only what is missing and updates what was edited).
A file cut short stores every complete message before the cut and its error line says how many. Of two copies of
one message the later edit wins, else the later export (its ``exportedAt``, else the file's time): an older export
imported after a newer one changes nothing, reactions included (``storage.messages.write_batch``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Callable, Iterable

from core.ingest.dce_csv import CsvConverter, parse_timezone, read_csv_export
from core.ingest.dce_json import read_json_export
from core.ingest.sources import DceImportError, ExportFile, Source, discover, one_line
from core.ingest.dce_mapping import message_from_dce, rows_from_header
from core.ingest.records import RecordError, normalize_timestamp
from storage.messages import write_batch
from storage.rows import MessageBatch

__all__ = ["DceImportError", "ImportProgress", "ImportReport", "import_paths", "open_export"]

BATCH_SIZE = 5000  # one transaction each: big enough to amortise the commit, small enough to lose little to a kill
MAX_WARNINGS = 20  # skipped-message reasons kept in the report; the count covers them all


@dataclass
class ImportReport:
    files: int = 0                # export files found (JSON, CSV, archive members)
    messages_seen: int = 0        # message records read, skipped ones included
    messages_new: int = 0
    messages_updated: int = 0
    channels: int = 0             # distinct channels of the files read
    authors: int = 0              # distinct authors of the messages read
    skipped: int = 0              # message records that could not be stored (see warnings)
    conflicts: int = 0            # messages stored with another author, left as they were (see warnings)
    withheld: int = 0             # messages of forgotten people: consent says never store them again
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


# --- reading -----------------------------------------------------------------------------------------------------

def open_export(source: Source, *, csv_zone: tzinfo | None = None,
                csv_converters: dict[int, CsvConverter] | None = None) -> ExportFile:
    """Open one export file (JSON or CSV, told by its name or else by its first bytes). ``csv_zone``: the timezone
    of CSV dates without an offset (None: this machine's); ``csv_converters``: shared across one run's files."""
    kind = source.suffix or sniff(source)
    if kind == ".csv":
        export = read_csv_export(source, zone=csv_zone, converters=csv_converters)
        export.seen_at = source.modified
        return export
    header, messages, position = read_json_export(source)
    try:
        guild, channels, channel_id = rows_from_header(header)
        exported_at = header.get("exportedAt")  # DCE 2.40.1+; older exports: the file's time
        seen_at = normalize_timestamp(exported_at) if isinstance(exported_at, str) and exported_at else None
    except RecordError as exc:
        raise DceImportError(f"bad export header: {exc}") from None
    return ExportFile(guild, channels, channel_id, messages, message_from_dce, position, seen_at or source.modified)


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
                 batch_size: int = BATCH_SIZE, csv_timezone: str | tzinfo | None = None) -> ImportReport:
    """Import every export under ``paths``; a file that fails is reported (one line) and the others go on.

    ``csv_timezone``: the zone of CSV dates written without an offset (DCE before 2.42.3 wrote local times): a
    tzinfo, a name for ``core.ingest.dce_csv.parse_timezone``, or None for this machine's zone. Raises ValueError
    for an unknown name, before anything is read."""
    started = time.perf_counter()
    zone = parse_timezone(csv_timezone) if isinstance(csv_timezone, str) or csv_timezone is None else csv_timezone
    sources, errors = discover([Path(path) for path in paths])
    run = ImportRun(conn, ImportReport(files=len(sources), errors=errors, files_failed=len(errors)),
                    sum(source.size for source in sources), len(sources), on_progress, batch_size)
    run.csv_zone = zone
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
        self.csv_zone: tzinfo | None = None
        self.csv_converters: dict[int, CsvConverter] = {}  # a channel's CSV partitions count ids on

    def import_source(self, source: Source) -> None:
        export = open_export(source, csv_zone=self.csv_zone, csv_converters=self.csv_converters)
        self.channels.add(export.channel_id)
        batch, convert, channel_id, report = self.new_batch(export), export.convert, export.channel_id, self.report
        messages, users = batch.messages, batch.users
        read = 0
        try:
            for item in export.items:
                report.messages_seen += 1
                read += 1
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
        except DceImportError as exc:
            # a file cut short or damaged midway: every complete message before the damage is stored
            if messages:
                self.write(batch, source, export)
            raise DceImportError(f"{one_line(exc)}; the {read} complete messages before it were imported") from None
        if messages:
            self.write(batch, source, export)

    @staticmethod
    def new_batch(export: ExportFile) -> MessageBatch:
        batch = MessageBatch(channels={channel.id: channel for channel in export.channels}, seen_at=export.seen_at)
        if export.guild is not None:
            batch.guilds[export.guild.id] = export.guild
        return batch

    def write(self, batch: MessageBatch, source: Source, export: ExportFile) -> None:
        result = write_batch(self.conn, batch)
        self.report.messages_new += result.new
        self.report.messages_updated += result.updated
        self.report.conflicts += len(result.conflicts)
        self.report.withheld += result.withheld
        for message_id in result.conflicts[:max(0, MAX_WARNINGS - len(self.report.warnings))]:
            self.report.warnings.append(f"{source.name}: message {message_id} is stored with another author; "
                                        f"left as it was")
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
