"""Reading a DiscordChatExporter JSON export as its header plus a stream of message objects.

Two readers, one result. The fast reader finds each message's byte span and parses just that span with orjson. The
first message tells the layout: DCE's own (indented JSON, ``{`` alone on its line opening an indented block that
ends at the ``}`` with the same indentation: a raw newline never occurs inside a JSON string, so that closing line
is structural), or one message per line (``{...},``: the message ends at the last ``}`` of its line that closes an
object). Every span it looks for is bounded (HEADER_LIMIT, MESSAGE_LIMIT, TAIL_LIMIT) and no search starts over
after a read, so memory stays at about one read buffer and time is linear whatever the file's size or layout. A
file laid out otherwise (minified, re-indented, a message longer than MESSAGE_LIMIT, damaged) goes to the general
streaming parser (ijson, GENERAL_READ bytes at a time), which starts the file over, skips the messages already
handed out, and reports what is wrong with a byte position. ``messageCount`` is never trusted: the messages are
counted as they come.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

import ijson
import orjson

from core.ingest.sources import CountingReader, DceImportError, Source, one_line

CHUNK = 4 << 20          # bytes per read; a message is a few KB, so one read holds about a thousand
HEADER_LIMIT = 1 << 20   # a header (guild, channel) is a few KB; past this the file is not laid out as DCE writes it
MESSAGE_LIMIT = 1 << 20  # a message is a few KB; a longer span is another layout (a minified file is one line)
TAIL_LIMIT = 1 << 20     # after the messages DCE writes only messageCount
LINE_TRIES = 3           # a message's line may also close the document ("}]}"): its last few "}" are tried
GENERAL_READ = 64 << 10  # the general parser's read size: what it holds besides the message it is building
MESSAGES_KEY = b'"messages": ['
FIRST_TOKEN = re.compile(rb"[ \t\r\n]*([{\]])")
NEXT_TOKEN = re.compile(rb"[ \t\r\n]*(?:,[ \t\r\n]*(\{)|(\]))")
BLOCK_OPENING = re.compile(rb"\{[ \t]*\r?\n")  # DCE's layout: the message's "{" alone on its line
PEEK = 256               # bytes enough to see whether the first message's "{" ends its line
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
        scanner.buffer = b""  # not held while the general parser reads the file again
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
    scanner.buffer = b""  # not held while the general parser reads the file again
    yield from general_messages(open_stream, skip=handed_out, truncation=ended)


class SpanScanner:
    """The fast reader: message objects found as byte spans (DCE's indented blocks, or one message per line) and
    parsed one by one. It holds at most about CHUNK plus one limit."""

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

    def find(self, needle: bytes, start: int, limit: int, *, or_end: bool = False) -> int:
        """Where ``needle`` first occurs from ``start`` on, reading more as needed and searching each byte once.
        LayoutMismatch once more than ``limit`` bytes past ``pos`` hold none, or at the end of the stream (where
        ``or_end`` returns the end instead)."""
        offset = start - self.pos  # relative to pos, which fill() moves
        while (index := self.buffer.find(needle, self.pos + offset)) < 0:
            offset = max(offset, len(self.buffer) - self.pos - len(needle) + 1)
            if len(self.buffer) - self.pos > limit:
                raise LayoutMismatch
            if not self.fill():
                if or_end:
                    return len(self.buffer)
                raise LayoutMismatch
        return index

    def read_header(self) -> dict:
        index = self.find(MESSAGES_KEY, 0, HEADER_LIMIT)
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
        match, closing = self.token(FIRST_TOKEN), None  # closing: b"" for one message per line
        more = match.group(1) == b"{"
        while more:
            start = match.end() - 1
            if closing and self.buffer[start - len(closing) + 1:start] != closing[:-1]:
                raise LayoutMismatch  # a block at another indentation: not where DCE puts it
            self.pos = start
            if closing is None:
                closing = self.block_closing()
            if not closing:
                message, self.pos = self.line()
            else:  # DCE's block, inline: this loop runs once per message of every normal import
                if (end := self.buffer.find(closing, self.pos)) < 0:
                    end = self.find(closing, self.pos, MESSAGE_LIMIT)
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

    def block_closing(self) -> bytes:
        """The layout, from the first message (at ``pos``): "{" alone on its line opens DCE's block, which the
        returned bytes close; anything else is one message per line (b"")."""
        line_start = self.buffer.rfind(b"\n", 0, self.pos) + 1  # before fill() drops what precedes pos
        indent = self.buffer[line_start:self.pos]
        while len(self.buffer) - self.pos < PEEK and self.fill():
            pass
        if not BLOCK_OPENING.match(self.buffer, self.pos):
            return b""
        if not line_start or indent.strip(b" "):
            raise LayoutMismatch
        return b"\n" + indent + b"}"

    def line(self) -> tuple[dict, int]:
        """One message per line: it ends at the last "}" of its line that closes an object starting at ``pos``
        (a JSON value's end is where parsing it stops, so a span that parses whole is exactly the message)."""
        right = self.find(b"\n", self.pos, MESSAGE_LIMIT, or_end=True)
        for _ in range(LINE_TRIES):
            right = self.buffer.rfind(b"}", self.pos, right)
            if right < 0:
                break
            message = self.parse(right + 1)
            if message is not None:
                return message, right + 1
        raise LayoutMismatch

    def parse(self, end: int) -> dict | None:
        """The object spanning ``pos`` to ``end``, or None when those bytes are not exactly one JSON object."""
        try:
            message = orjson.loads(memoryview(self.buffer)[self.pos:end])
        except orjson.JSONDecodeError:
            return None
        return message if isinstance(message, dict) else None

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
        events = ijson.parse(stream, buf_size=GENERAL_READ, use_float=True)
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
            items = ijson.items(stream, "messages.item", buf_size=GENERAL_READ, use_float=True)
            for index, message in enumerate(items):
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
