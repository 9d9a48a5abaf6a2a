"""Finding export files to import: plain files, folders (recursively) and .zip archives (members streamed).

A ``Source`` is one export file wherever it lives; ``open()`` gives a fresh binary stream each time it is called,
so a reader may start over (the JSON reader does when a file is not laid out the way DCE writes it). Streams count
the bytes read, for progress and for error positions.
"""
from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Iterator

from storage.rows import ChannelRow, GuildRow, MessageRow, UserRow

EXPORT_SUFFIXES = (".json", ".csv")
ARCHIVE_SUFFIX = ".zip"
UTF8_BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 20  # read size for text formats
# DCE downloads media (--media) into "<export file>_Files/" (or a --media-dir); the files there are named
# "<name>-<hash>.<ext>" with a 16 (older: 5) hex digit hash, and some are .json or .csv attachments, not exports.
MEDIA_FOLDER = re.compile(r"\.(?:json|csv|html?|txt)_Files$", re.IGNORECASE)
MEDIA_FILE = re.compile(r"-(?:[0-9a-f]{16}|[0-9a-f]{5})\.[A-Za-z0-9]+$")
# DCE names the second and later partitions of an export "<name> [part N].<ext>" (the first has no suffix).
PART_SUFFIX = re.compile(r" \[part (\d+)\]$")


class DceImportError(Exception):
    """An export file cannot be read (not an export, truncated, corrupt); the message is one line."""


@dataclass(frozen=True)
class Source:
    name: str                       # how error lines name it: the path, or "archive.zip:member.json"
    size: int                       # bytes (uncompressed for archive members)
    opener: Callable[[], BinaryIO]
    suffix: str                     # ".json", ".csv" or "" when the content must tell
    modified: str | None = None     # the file's time (UTC ISO): when it was exported, if the export does not say

    def open(self) -> "CountingReader":
        try:
            return CountingReader(self.opener())
        except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
            raise DceImportError(f"cannot open: {one_line(exc)}") from None


@dataclass
class ExportFile:
    """One opened export: the rows its header names, its raw records (streamed) and how to turn one into rows."""
    guild: GuildRow | None
    channels: list[ChannelRow]      # the file's channel last; a thread's parent placeholder before it
    channel_id: int
    items: Iterator[Any]
    convert: Callable[[Any, int], tuple[MessageRow, list[UserRow]]]  # raises core.ingest.records.RecordError
    position: Callable[[], int]     # bytes of the file read so far, for progress
    seen_at: str | None = None      # when the export was made (exportedAt, else the file's time), UTC ISO


class CountingReader:
    """A read-only binary stream that counts what it has handed out and drops a leading UTF-8 byte-order mark."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.position, self._started = raw, 0, False

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, ValueError) as exc:
            # zlib.error and CRC failures of a damaged archive member arrive as these
            raise DceImportError(f"read failed near byte {self.position}: {one_line(exc)}") from None
        if not self._started:
            self._started = True
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM):]
                self.position += len(UTF8_BOM)
        self.position += len(data)
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "CountingReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def one_line(error: BaseException | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return " ".join(first.split())[:200] or (type(error).__name__ if isinstance(error, BaseException) else "")


def is_media(relative: PurePosixPath) -> bool:
    """Whether a path inside an export folder or archive is downloaded media rather than an export file."""
    return (any(MEDIA_FOLDER.search(part) for part in relative.parts[:-1])
            or bool(MEDIA_FILE.search(relative.name)))


def export_order(relative: PurePosixPath) -> tuple:
    """Folder, then the export's name, then its partition (1 for the unsuffixed first part, then 2, 3, ... 10)."""
    stem, suffix = relative.stem, relative.suffix
    match = PART_SUFFIX.search(stem)
    part = int(match.group(1)) if match else 1
    base = stem[:match.start()] if match else stem
    return relative.parent.as_posix(), base, suffix.lower(), part, relative.name


def discover(paths: list[Path]) -> tuple[list[Source], list[str]]:
    """The export files under ``paths`` (folders walked in name order, an export's partitions in part order;
    media folders skipped), plus one error line per unusable path."""
    sources, errors = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = len(sources) + len(errors)
            children = [(PurePosixPath(child.relative_to(path).as_posix()), child)
                        for child in path.rglob("*") if child.is_file()]
            for relative, child in sorted(children, key=lambda item: export_order(item[0])):
                if is_media(relative):
                    continue
                suffix = child.suffix.lower()
                if suffix in EXPORT_SUFFIXES:
                    sources.append(file_source(child, suffix))
                elif suffix == ARCHIVE_SUFFIX:
                    archive_sources(child, sources, errors)
                # other files in a DCE folder are media (the *_Files folders): not messages
            if len(sources) + len(errors) == found:
                errors.append(f"{path}: no export files (.json, .csv or .zip) in this folder")
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix == ARCHIVE_SUFFIX or (suffix not in EXPORT_SUFFIXES and zipfile.is_zipfile(path)):
                archive_sources(path, sources, errors)
            else:
                sources.append(file_source(path, suffix if suffix in EXPORT_SUFFIXES else ""))
        else:
            errors.append(f"{path}: no such file or folder")
    return sources, errors


def file_source(path: Path, suffix: str) -> Source:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="microseconds")
    return Source(str(path), stat.st_size, lambda: path.open("rb"), suffix, modified)


def archive_sources(path: Path, sources: list[Source], errors: list[str]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist()
                       if not info.is_dir() and Path(info.filename).suffix.lower() in EXPORT_SUFFIXES
                       and not is_media(PurePosixPath(info.filename.replace("\\", "/")))]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        errors.append(f"{path}: not a readable .zip archive ({one_line(exc)})")
        return
    if not members:
        errors.append(f"{path}: the archive holds no .json or .csv export")
    for info in sorted(members, key=lambda member: export_order(PurePosixPath(member.filename.replace("\\", "/")))):
        sources.append(Source(f"{path}:{info.filename}", info.file_size, member_opener(path, info.filename),
                              Path(info.filename).suffix.lower(), member_time(info)))


def member_time(info: zipfile.ZipInfo) -> str | None:
    """A member's stored time (the zip format keeps local time without a zone: taken as this machine's)."""
    try:
        moment = datetime(*info.date_time).astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="microseconds")


def member_opener(path: Path, member: str) -> Callable[[], BinaryIO]:
    def open_member() -> BinaryIO:
        archive = zipfile.ZipFile(path)
        try:
            stream = archive.open(member)
        except BaseException:
            archive.close()
            raise
        return ArchiveMember(archive, stream)
    return open_member


class ArchiveMember:
    """A member's stream that also closes its archive."""

    def __init__(self, archive: zipfile.ZipFile, stream: BinaryIO):
        self.archive, self.stream = archive, stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def close(self) -> None:
        self.stream.close()
        self.archive.close()
