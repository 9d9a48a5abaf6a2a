"""Bad input: one clear line per failed file, the good files still imported, exit 1, and a parser fuzzed hard."""
from __future__ import annotations

import json
import shutil

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest.importer import import_paths, open_export
from core.ingest.sources import DceImportError, Source
from core.ingest.records import RecordError
from storage.db import connect
from tests.conftest import run_cli
from tests.test_import_formats import ODD, export, message

GOOD = json.dumps(export(ODD), indent=2).encode()


@pytest.mark.parametrize("good_source", ["sample server", "shared exports"])
def test_a_folder_mixing_good_and_bad_files(workspace, tmp_path, good_source, request):
    from core.config.resources import asset
    good = asset("sample_server", "export") if good_source == "sample server" else \
        request.getfixturevalue("shared_data") / "dcef-example-guild"
    folder = tmp_path / "mixed"
    shutil.copytree(good, folder)
    truncated = folder / "truncated.json"
    truncated.write_bytes(GOOD[:len(GOOD) // 2])
    (folder / "not dce.json").write_text('{"hello": [1, 2, 3]}', encoding="utf-8")
    (folder / "garbage.json").write_bytes(b"\x00\x9f\xff binary \xfe" * 20)
    (folder / "empty.json").write_bytes(b"")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "list.json").write_text("[1, 2]", encoding="utf-8")

    code, out, err = run_cli("import", str(folder), str(tmp_path / "missing"), "--json", workspace=workspace)
    assert code == 1
    report = json.loads(out)  # exactly one JSON object on stdout, even on failure
    assert report["files_failed"] == len(report["errors"]) == 7
    lines = err.strip().splitlines()
    assert all("\n" not in line for line in report["errors"])
    by_name = {name: next(line for line in lines if name in line) for name in (
        "truncated.json", "not dce.json", "garbage.json", "empty.json", "broken.zip", "list.json", "missing")}
    assert f"truncated: the JSON ends early, at byte {len(GOOD) // 2}" in by_name["truncated.json"]
    assert 'not a DiscordChatExporter export: no "channel" and "messages"' in by_name["not dce.json"]
    assert "invalid JSON near byte" in by_name["garbage.json"]
    assert "empty file" in by_name["empty.json"]
    assert "not a readable .zip archive" in by_name["broken.zip"]
    assert "the JSON is not an object" in by_name["list.json"]
    assert "no such file or folder" in by_name["missing"]
    assert lines[-1].startswith("error: 7 input(s) could not be imported")
    # the good files went in completely
    conn = workspace.connect()
    good_ids = {m["id"] for p in good.rglob("*.json")
                for m in json.loads(p.read_text(encoding="utf-8"))["messages"]}
    stored_ids = {str(row[0]) for row in conn.execute("SELECT id FROM messages")}
    assert good_ids <= stored_ids
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_unknown_files_and_empty_folders_are_named(workspace, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "cat.png").write_bytes(b"\x89PNG")
    (tmp_path / "notes.txt").write_text("just some notes", encoding="utf-8")
    code, out, err = run_cli("import", str(tmp_path / "empty"), str(tmp_path / "media"), str(tmp_path / "notes.txt"),
                             "--json", workspace=workspace)
    assert code == 1 and json.loads(out)["files_failed"] == 3
    assert "empty: no export files (.json, .csv or .zip) in this folder" in err
    assert "media: no export files" in err
    assert "notes.txt: not a DiscordChatExporter export (neither JSON nor CSV)" in err


def test_a_file_failing_midway_keeps_its_committed_batches_and_a_rerun_completes(tmp_path):
    messages = [message(n, timestamp=f"2024-03-01T12:{n // 60 % 60:02d}:{n % 60:02d}+00:00") for n in range(2500)]
    full = json.dumps(export(messages), indent=2).encode()
    damaged = tmp_path / "export.json"
    damaged.write_bytes(full[:int(len(full) * 0.7)])
    complete = full[:int(len(full) * 0.7)].count(b"\n    }")  # messages whose closing line is before the cut
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [damaged], batch_size=500)
    assert len(report.errors) == 1 and "truncated" in report.errors[0]
    assert f"the {complete} complete messages before it were imported" in report.errors[0]
    committed = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert committed == complete and 0 < committed < 2500  # every complete message before the cut
    damaged.write_bytes(full)
    report = import_paths(conn, [damaged], batch_size=500)
    assert report.errors == [] and report.messages_new == 2500 - committed
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM messages").fetchone() == (2500, 2500)


def test_a_bad_message_is_skipped_with_a_reason(workspace, tmp_path):
    broken = [message(1), message(2, timestamp="yesterday"), message(3, author="nobody"), {"no": "id"},
              message(4, reactions=[{"emoji": {}, "count": 1}]), message(5)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export(broken), indent=2), encoding="utf-8")
    code, out, err = run_cli("import", str(path), "--json", workspace=workspace)
    report = json.loads(out)
    assert code == 0 and (report["messages_new"], report["skipped"]) == (2, 4)
    assert "not an ISO 8601 timestamp: 'yesterday'" in err and "author is not an object" in err
    assert "message id is not a Discord id" in err and "a reaction has no emoji name" in err


def parse_everything(tmp_path, name: str, data: bytes) -> None:
    """Open and drain one export: only DceImportError or RecordError may come out."""
    path = tmp_path / name
    path.write_bytes(data)
    source = Source(str(path), len(data), lambda: path.open("rb"), path.suffix)
    try:
        opened = open_export(source)
        for item in opened.items:
            try:
                opened.convert(item, opened.channel_id)
            except RecordError:
                pass
    except DceImportError as exc:
        assert "\n" not in str(exc) and str(exc)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(["x.json", "x [900000000000000010].csv", "x.dat"]))
def test_fuzz_random_bytes(tmp_path, data, name):
    parse_everything(tmp_path, name, data)


@FUZZ
@given(st.data())
def test_fuzz_damaged_exports(tmp_path, data):
    """A valid export cut short, with bytes changed, or with values of the wrong type."""
    raw = bytearray(GOOD)
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    parse_everything(tmp_path, "x.json", bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)


@settings(FUZZ, max_examples=60)
@given(st.sampled_from(list(ODD[4])), JSON_VALUES, st.sampled_from(["id", "name", "nickname", "isBot", "emoji"]),
       JSON_VALUES, st.booleans())
def test_fuzz_wrong_types(tmp_path, key, value, inner_key, inner_value, indented):
    damaged = dict(ODD[4], **{key: value})
    damaged["author"] = dict(ODD[4]["author"], **{inner_key: inner_value})
    damaged["reactions"] = [dict(ODD[4]["reactions"][0], **{inner_key: inner_value})]
    text = json.dumps(export([damaged, ODD[0]]), indent=2 if indented else None)
    parse_everything(tmp_path, "x.json", text.encode())
    # and all the way into a real database: stored, skipped or refused, never an unhandled error
    database = tmp_path / "fuzz.db"
    for leftover in tmp_path.glob("fuzz.db*"):
        leftover.unlink()
    conn = connect(database)
    report = import_paths(conn, [tmp_path / "x.json"])
    assert report.messages_new + report.skipped + len(report.errors) >= 1
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == report.messages_new
    conn.close()
