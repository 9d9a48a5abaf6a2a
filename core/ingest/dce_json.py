"""Reading a DiscordChatExporter JSON export as its header plus a stream of message objects.

Two readers, one result. DCE writes indented JSON with each message as one indented block, so the fast reader finds
each message's byte span (the block from ``{`` to the ``}`` at the same indentation: a raw newline never occurs
inside a JSON string, so that closing line is structural) and parses just that span with orjson. Memory stays at one
read buffer whatever the file size. A file not laid out that way (minified, re-indented, damaged) goes to the
general streaming parser (ijson), which starts the file over, skips the messages already handed out, and reports
what is wrong with a byte position. ``messageCount`` is never trusted: the messages are counted as they come.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

import ijson
import orjson

from core.ingest.sources import CountingReader, DceImportError, Source, one_line

CHUNK = 4 << 20          # bytes per read; a message is a few KB, so one read holds about a thousand
HEADER_LIMIT = 16 << 20  # a header (guild, channel) is tiny; past this the file is not laid out as DCE writes it
TAIL_LIMIT = 1 << 20     # after the messages DCE writes only messageCount
MESSAGES_KEY = b'"messages": ['
FIRST_TOKEN = re.compile(rb"[ \t\r\n]*([{\]])")
NEXT_TOKEN = re.compile(rb"[ \t\r\n]*(?:,[ \t\r\n]*(\{)|(\]))")
HEADER_KEYS = ("guild", "channel")


class LayoutMismatch(Exception):
    """The file is not laid out the way DCE writes it; the general parser takes over."""


def read_json_export(source: Source) -> tuple[dict, Iterator[dict], Callable[[], int]]:
    """The export's header (``guild``, ``channel``), an iterator over its raw message objects, and a function
    giving the bytes read so far. Raises DceImportError (from this call or while iterating) when the file is not
    a readable DCE export."""
    opened: list[CountingReader] = []

    def open_stream() -> CountingReader:
        opened.append(source.open())
        return opened[-1]

    def position() -> int:
        return opened[-1].position if opened else 0

    scanner = SpanScanner(open_stream())
    try:
        header = scanner.read_header()
    except LayoutMismatch:
        scanner.stream.close()
        return general_header(open_stream), general_messages(open_stream, skip=0), position
    except BaseException:
        scanner.stream.close()
        raise
    return header, fast_messages(scanner, open_stream), position


def fast_messages(scanner: "SpanScanner", open_stream: Callable[[], CountingReader]) -> Iterator[dict]:
    handed_out = 0
    try:
        with scanner.stream:
            for message in scanner.messages():
                handed_out += 1
                yield message
            return
    except LayoutMismatch:
        pass
    # the general parser decides; if it fails at the end too, and the fast reader ran out of bytes inside a
    # message, the file was cut short there (yajl's own words for that vary with where the cut fell)
    size = scanner.stream.position
    ended = (f"truncated: the JSON ends early, at byte {size} (inside message {handed_out + 1})", size) \
        if scanner.eof and scanner.pos < len(scanner.buffer) else None
    yield from general_messages(open_stream, skip=handed_out, truncation=ended)


class SpanScanner:
    """The fast reader: message objects found as byte spans of DCE's indented layout, parsed one by one."""

    def __init__(self, stream: CountingReader):
        self.stream, self.buffer, self.pos, self.eof = stream, b"", 0, False

    def fill(self) -> bool:
        """Append one more chunk, dropping what lies before ``pos``; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0
        return True

    def read_header(self) -> dict:
        while (index := self.buffer.find(MESSAGES_KEY)) < 0:
            if len(self.buffer) > HEADER_LIMIT or not self.fill():
                raise LayoutMismatch
        try:
            header = orjson.loads(self.buffer[:index] + b'"messages": []}')
        except orjson.JSONDecodeError:
            raise LayoutMismatch from None
        if not isinstance(header, dict) or not isinstance(header.get("channel"), dict):
            raise LayoutMismatch
        self.pos = index + len(MESSAGES_KEY)
        return header

    def token(self, pattern: re.Pattern) -> re.Match:
        while not (match := pattern.match(self.buffer, self.pos)):
            if len(self.buffer) - self.pos > 4096 or not self.fill():
                raise LayoutMismatch
        return match

    def messages(self) -> Iterator[dict]:
        match, closing, indent = self.token(FIRST_TOKEN), b"", b""
        more = match.group(1) == b"{"
        while more:
            start = match.end() - 1
            if not closing:  # the first message fixes the indentation of every message
                line_start = self.buffer.rfind(b"\n", 0, start) + 1
                indent = self.buffer[line_start:start]
                if not line_start or indent.strip(b" "):
                    raise LayoutMismatch
                closing = b"\n" + indent + b"}"
            elif self.buffer[start - len(indent) - 1:start] != closing[:-1]:
                raise LayoutMismatch
            self.pos = start
            while (end := self.buffer.find(closing, self.pos)) < 0:
                if not self.fill():
                    raise LayoutMismatch
            end += len(closing)
            try:
                message = orjson.loads(memoryview(self.buffer)[self.pos:end])
            except orjson.JSONDecodeError:
                raise LayoutMismatch from None
            if not isinstance(message, dict):
                raise LayoutMismatch
            self.pos = end
            yield message
            match = self.token(NEXT_TOKEN)
            more = match.group(1) is not None
        self.pos = match.end()
        self.check_tail()

    def check_tail(self) -> None:
        """What follows the messages must close the document (else the general parser says what is wrong)."""
        while self.fill():
            if len(self.buffer) - self.pos > TAIL_LIMIT:
                raise LayoutMismatch
        try:
            rest = orjson.loads(b'{"messages": []' + self.buffer[self.pos:])
        except orjson.JSONDecodeError:
            raise LayoutMismatch from None
        if not isinstance(rest, dict):
            raise LayoutMismatch


def general_header(open_stream: Callable[[], CountingReader]) -> dict:
    """The header by the streaming parser, for files the fast reader does not understand."""
    header: dict = {}
    found_messages = False
    with open_stream() as stream:
        events = ijson.parse(stream, use_float=True)
        first = None
        try:
            first = next(events)
            if first[1] != "start_map":
                raise DceImportError("not a DiscordChatExporter export: the JSON is not an object")
            builder, key = None, ""
            for prefix, event, value in events:
                if builder is not None:
                    builder.event(event, value)
                    if prefix == key and event == "end_map":
                        header[key], builder = builder.value, None
                elif prefix in HEADER_KEYS and event == "start_map":
                    builder, key = ijson.ObjectBuilder(), prefix
                    builder.event(event, value)
                elif prefix == "messages" and event == "start_array":
                    found_messages = True
                    if "channel" in header:
                        break
        except (ijson.JSONError, UnicodeDecodeError, ValueError, StopIteration) as exc:
            if first is None and (isinstance(exc, StopIteration) or "premature EOF" in error_text(exc)):
                raise DceImportError("empty file: no JSON in it") from None
            raise DceImportError(describe_json_error(exc, stream)) from None
    if "channel" not in header or not found_messages:
        missing = " and ".join(f'"{k}"' for k, ok in (("channel", "channel" in header), ("messages", found_messages))
                               if not ok)
        raise DceImportError(f"not a DiscordChatExporter export: no {missing}")
    return header


def general_messages(open_stream: Callable[[], CountingReader], skip: int,
                     truncation: tuple[str, int] | None = None) -> Iterator[dict]:
    with open_stream() as stream:
        try:
            for index, message in enumerate(ijson.items(stream, "messages.item", use_float=True)):
                if index >= skip:
                    yield message
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
            at_end = truncation is not None and stream.position >= truncation[1]
            raise DceImportError(truncation[0] if at_end else describe_json_error(exc, stream)) from None


def describe_json_error(error: Exception, stream: CountingReader) -> str:
    text = error_text(error)
    if "premature EOF" in text:
        return f"truncated: the JSON ends early, at byte {stream.position}"
    return f"invalid JSON near byte {stream.position}: {text}"


def error_text(error: Exception) -> str:
    return one_line(error.args[0] if error.args else error)  # ijson puts yajl's message (bytes) in args[0]
