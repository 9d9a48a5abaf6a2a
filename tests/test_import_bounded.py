"""Import memory stays bounded, and every message comes through, whatever the layout: JSON with one message per line,
CSV with CR-only line ends, both inside a .zip too. Memory is what tracemalloc traces (every Python allocation:
read buffers, decoded text, orjson's and ijson's work) while a reader streams a file many times its read size; the
reads and the layout limits are scaled down together so that a file of a few MB shows a bound or its absence."""
from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.ingest.dce_csv as dce_csv
import core.ingest.dce_json as dce_json
from core.ingest.importer import import_paths, open_export
from core.ingest.sources import CountingReader, DceImportError, Source, discover
from storage.db import connect
from tests import dce_shape as dce

CHANNEL = 1012224565567721552
ANN, BOB = dce.user(521486476985155645, "ann", "Ann"), dce.user(896568767994532880, "bob", "Bob ✨")
READ = 64 << 10        # the read size the memory tests set
LIMIT = 256 << 10      # the JSON reader's header and message limits, scaled down with it
FILE_BYTES = 2 << 20   # each generated file: 32 reads
BOUND = 3 << 19        # peak traced bytes allowed while reading one: a few reads (as text with emoji, 4 bytes a
                       # character) and one limit, not the file
TRICKY = ("plain", "braces } { and a closing }", 'quotes "}" and a backslash \\', "two\nlines", "crlf\r\ninside",
          "lone\rcr", "emoji 🙂 and a line\u2028separator", "")


def messages(count: int) -> list[dict]:
    return [dce.message(1_100_000_000_000_000_000 + n, ANN if n % 3 else BOB, f"{TRICKY[n % len(TRICKY)]} {n}",
                        timestamp=f"2024-03-01T14:{n // 60 % 60:02d}:{n % 60:02d}.000+00:00") for n in range(count)]


def json_bytes(layout: str, count: int) -> bytes:
    return dce.render(dce.export(dce.channel(CHANNEL, "general"), messages(count)), layout)


def csv_bytes(layout: str, count: int) -> bytes:
    """``layout``: the row end ("\\r\\n", "\\n", "\\r"; line breaks inside messages as written), or "cr-only":
    every line break a CR, as a whole-file line-end conversion leaves it."""
    rows = [(m["author"]["id"], m["author"]["name"], m["timestamp"], m["content"], "", "") for m in messages(count)]
    if layout == "cr-only":
        return dce.csv_export(rows, "\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    return dce.csv_export(rows, layout)


def write(tmp_path, kind: str, layout: str, count: int, zipped: bool = False):
    name = dce.file_name("general", CHANNEL, extension=kind)
    data = json_bytes(layout, count) if kind == "json" else csv_bytes(layout, count)
    if not zipped:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name
    with zipfile.ZipFile(tmp_path / "export.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"Example guild/{name}", data)
    return tmp_path / "export.zip"


def count_for(kind: str, layout: str) -> int:
    """Messages making a file of about FILE_BYTES."""
    sample = len(json_bytes(layout, 100) if kind == "json" else csv_bytes(layout, 100))
    return FILE_BYTES * 100 // sample


def peak_reading(path) -> tuple[int | str, int]:
    """(records read, or the error that stopped the reading; peak traced bytes) opening the one export under
    ``path`` and reading all its records."""
    (source,), errors = discover([path])
    assert errors == []
    tracemalloc.start()
    try:
        export = open_export(source, csv_zone=timezone.utc)
        records = sum(1 for _ in export.items)
    except DceImportError as exc:
        records = str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return records, peak


@pytest.fixture
def small_reads(monkeypatch):
    monkeypatch.setattr(dce_json, "CHUNK", READ)
    monkeypatch.setattr(dce_json, "HEADER_LIMIT", LIMIT)
    monkeypatch.setattr(dce_json, "MESSAGE_LIMIT", LIMIT, raising=False)  # raising=False: the old reader had none
    monkeypatch.setattr(dce_json, "GENERAL_READ", READ // 4, raising=False)  # ijson's events take ~16x its reads
    monkeypatch.setattr(dce_csv, "CHUNK_BYTES", READ)


@pytest.mark.parametrize("kind, layout, zipped", [
    ("json", "one-per-line", False), ("json", "one-per-line", True), ("json", "minified", False),
    ("json", "indented-crlf", False), ("csv", "cr-only", False), ("csv", "cr-only", True), ("csv", "\r", False),
    ("csv", "\r\n", False)])
def test_reading_holds_a_few_reads_not_the_file(tmp_path, small_reads, kind, layout, zipped):
    count = count_for(kind, layout)
    path = write(tmp_path, kind, layout, count, zipped)
    records, peak = peak_reading(path)
    assert peak < BOUND, f"{peak / 1e6:.1f} MB held reading a {FILE_BYTES / 1e6:.1f} MB file"
    assert records == count


class ShortReads:
    """A stream handing out at most ``step`` bytes per read, as a pipe or an archive member may: every span and
    line end then falls across reads somewhere."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.at = data, step, 0

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        self.at += size
        return self.data[self.at - size:self.at]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize("layout", ["one-per-line", "indented-crlf", "same-line", "last-closes"])
def test_the_fast_reader_keeps_one_message_per_line(monkeypatch, layout, step):
    """No hand-over to the general parser (which reads the file a second time, several times slower)."""
    handovers = []
    original = dce_json.general_messages

    def counting(open_stream, skip, **options):
        handovers.append(skip)
        return original(open_stream, skip, **options)

    monkeypatch.setattr(dce_json, "general_messages", counting)
    data = json_bytes("indented-crlf" if layout == "indented-crlf" else "one-per-line", 30)
    if layout == "same-line":     # the first message on the line of "messages": [
        data = data.replace(b'[\n    {', b'[{', 1)
    elif layout == "last-closes":  # the last message's line also closes the document, no final newline
        data = data[:data.rindex(b"\n  ],")] + b"], \"messageCount\": 30}"
    source = Source("export.json", len(data), lambda: ShortReads(data, step), ".json")
    header, items, _ = dce_json.read_json_export(source)
    assert header["channel"]["id"] == str(CHANNEL)
    assert list(items) == json.loads(data)["messages"]
    assert handovers == []


@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize("kind, layouts", [("json", ("indented-crlf", "one-per-line", "minified")),
                                           ("csv", ("\r\n", "\n", "\r", "cr-only"))])
def test_every_layout_stores_the_same_rows(tmp_path, kind, layouts, zipped):
    results = {}
    for index, layout in enumerate(layouts):
        folder = tmp_path / f"layout{index}"
        folder.mkdir()
        conn = connect(folder / "db")
        report = import_paths(conn, [write(folder, kind, layout, 200, zipped)], csv_timezone="UTC")
        assert report.errors == [] and report.messages_new == 200
        results[layout] = conn.execute("SELECT id, author_id, created_at, content FROM messages ORDER BY id").fetchall()
    as_written = [rows for layout, rows in results.items() if layout != "cr-only"]
    assert all(rows == as_written[0] for rows in as_written)
    assert {row[3].split(" ")[0] for row in as_written[0]} >= {"two\nlines", "crlf\r\ninside", "lone\rcr"}
    if "cr-only" in results:  # its messages' line breaks were converted too
        assert results["cr-only"] == [(*row[:3], row[3].replace("\r\n", "\r").replace("\n", "\r"))
                                      for row in as_written[0]]


def test_a_csv_line_without_end_is_a_clear_error_not_a_pile(tmp_path, monkeypatch):
    monkeypatch.setattr(dce_csv, "CHUNK_BYTES", READ)
    monkeypatch.setattr(dce_csv, "LINE_LIMIT", LIMIT, raising=False)
    path = tmp_path / dce.file_name("general", CHANNEL, extension="csv")
    path.write_bytes(csv_bytes("\n", 3) + b'"1","ann","2024-03-01","' + b"x" * (4 * LIMIT))
    report = import_paths(connect(tmp_path / "db"), [path], csv_timezone="UTC")
    assert report.messages_new == 3 and len(report.errors) == 1
    assert report.errors[0].startswith(f"{path}: a line longer than {LIMIT:,} characters near byte ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='a,"\r\n\u2028', max_size=60), st.integers(1, 9))
def test_csv_lines_end_where_the_csv_module_ends_them(text, step):
    """LF, CRLF and a lone CR end a line (a CRLF split across reads too); U+2028 does not."""
    stream = CountingReader(ShortReads(text.encode(), step))
    assert list(dce_csv.text_lines(stream)) == list(io.StringIO(text, newline=""))  # what csv.reader expects
