"""DCE conformance, files and CSV: DCE's own file names (date ranges, partitions), media folders, and CSV exports
in CsvMessageWriter's exact shape, imported into a real SQLite workspace and compared with the stored rows; plus
the real exports in ../shared/data where present."""
from __future__ import annotations

import time
import zipfile

import pytest

from core.ingest.importer import import_paths
from storage.db import connect
from storage.stats import collect_stats
from tests import dce_shape as dce
from tests.conftest import run_cli

CHANNEL = 1012224565567721552
ANN, BOB, BOT = 800000000000000001, 800000000000000002, 800000000000000003


def stored(conn, channel_id: int = CHANNEL) -> list[tuple]:
    return conn.execute("SELECT author_id, created_at, content FROM messages WHERE channel_id = ? ORDER BY id",
                        (channel_id,)).fetchall()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_csv_channel_id_comes_from_dce_names_with_date_ranges_and_partitions(tmp_path, newline):
    names = [dce.file_name("general", CHANNEL, extension="csv", after="2024-03-01", before="2024-04-01"),
             dce.file_name("general", CHANNEL, extension="csv", after="2024-03-01", before="2024-04-01", part=2),
             dce.file_name("general", CHANNEL, extension="csv", after="2024-03-01", before="2024-04-01", part=10),
             dce.file_name("chill [talk] zone", CHANNEL + 1, extension="csv", before="2024-05-01"),
             dce.file_name("news", CHANNEL + 2, extension="csv", after="2024-01-01", part=3)]
    # one minute split across the partitions, as DCE's message-count partitions may split it
    rows = [[(ANN, "ann", "2024-03-01T14:05:00.0000000+00:00", f"part {n}", "", "")] for n in (1, 2, 10)]
    rows += [[(BOB, "bob", "2024-03-01T14:05:00.0000000+00:00", "talk", "", "")],
             [(BOB, "bob", "2024-03-01T14:05:00.0000000+00:00", "news", "", "")]]
    for name, file_rows in zip(names, rows):
        (tmp_path / name).write_bytes(dce.csv_export(file_rows, newline))
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [tmp_path])
    assert report.errors == [] and report.messages_new == 5
    assert [row[2] for row in stored(conn)] == ["part 1", "part 2", "part 10"]  # part order, three distinct ids
    assert [row[2] for row in stored(conn, CHANNEL + 1)] == ["talk"]
    assert [row[2] for row in stored(conn, CHANNEL + 2)] == ["news"]


def test_media_folders_are_not_imported(tmp_path):
    export = dce.export(dce.channel(CHANNEL, "general"), [dce.message(700, dce.user(ANN, "ann"), "hi")])
    name = dce.file_name("general", CHANNEL)
    (tmp_path / name).write_bytes(dce.render(export, "indented-crlf"))
    media = tmp_path / f"{name}_Files"
    media.mkdir()
    (media / "settings-0123456789abcdef.json").write_text('{"theme": "dark"}', encoding="utf-8")
    (media / "table-01234.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (media / "avatar-0123456789abcdef.png").write_bytes(b"\x89PNG")
    custom = tmp_path / "media"   # --media-dir: DCE's asset names carry a hash
    custom.mkdir()
    (custom / "notes-fedcba9876543210.json").write_text("[1, 2]", encoding="utf-8")
    report = import_paths(connect(tmp_path / "db"), [tmp_path])
    assert (report.files, report.errors, report.messages_new) == (1, [], 1)
    archive = tmp_path.parent / f"{tmp_path.name}.zip"   # the same folder zipped (Windows "Send to > zip")
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(tmp_path.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(tmp_path).as_posix().replace("/", "\\"))
    report = import_paths(connect(tmp_path.parent / "zip.db"), [archive])
    assert (report.files, report.errors, report.messages_new) == (1, [], 1)


def test_a_re_export_never_moves_text_to_another_author(tmp_path):
    minute = "03/01/2024 2:05 PM"   # DCE before 2.41: the exporter's local time, to the minute
    first = [(ANN, "ann", minute, "ann one", "", ""), (BOB, "bob", minute, "bob one", "", ""),
             (ANN, "ann", minute, "ann two", "", "")]
    second = first[1:] + [(BOB, "bob", minute, "bob two", "", "")]   # "ann one" was deleted in between
    path = tmp_path / dce.file_name("general", CHANNEL, extension="csv")
    conn = connect(tmp_path / "db")
    for rows in (first, second):
        path.write_bytes(dce.csv_export(rows))
        assert import_paths(conn, [path], csv_timezone="UTC").errors == []
    written = {(author, content) for author, _, _, content, _, _ in first + second}
    assert {(author, content) for author, _, content in stored(conn)} <= written
    assert ("bob two" in [content for _, _, content in stored(conn)])


def same_bucket_as(author_id: int) -> int:
    """Another author whose synthetic ids in CHANNEL meet ``author_id``'s (the 1 in 4093 hash collision)."""
    from core.ingest.dce_csv import ID_BUCKETS
    bucket = (author_id * 0x9E3779B1 + CHANNEL) % ID_BUCKETS
    return next(other for other in range(author_id + 1, author_id + 10 * ID_BUCKETS)
                if (other * 0x9E3779B1 + CHANNEL) % ID_BUCKETS == bucket)


def test_an_update_never_changes_a_stored_messages_author(tmp_path):
    CAROL = same_bucket_as(ANN)
    path = tmp_path / dce.file_name("general", CHANNEL, extension="csv")
    conn = connect(tmp_path / "db")
    path.write_bytes(dce.csv_export([(ANN, "ann", "03/01/2024 2:05 PM", "ann's words", "", "")]))
    import_paths(conn, [path], csv_timezone="UTC")
    path.write_bytes(dce.csv_export([(CAROL, "carol", "03/01/2024 2:05 PM", "carol's words", "", "")]))
    report = import_paths(conn, [path], csv_timezone="UTC")
    assert report.conflicts == 1 and "stored with another author; left as it was" in report.warnings[0]
    assert [(author, content) for author, _, content in stored(conn)] == [(ANN, "ann's words")]


def test_a_csv_import_never_turns_a_bot_into_a_human(tmp_path):
    export = dce.export(dce.channel(CHANNEL, "general"),
                        [dce.message(710, dce.user(BOT, "helper", "Helper", bot=True), "beep")])
    (tmp_path / "g.json").write_bytes(dce.render(export, "minified"))
    (tmp_path / dce.file_name("general", CHANNEL, extension="csv")).write_bytes(
        dce.csv_export([(BOT, "helper", "2024-03-01T14:05:00.0000000+00:00", "boop", "", "")]))
    conn = connect(tmp_path / "db")
    for path in ("g.json", dce.file_name("general", CHANNEL, extension="csv"), "g.json"):
        import_paths(conn, [tmp_path / path])
        assert conn.execute("SELECT is_bot, display_name FROM users WHERE id = ?", (BOT,)).fetchone() == (1, "Helper")


@pytest.mark.parametrize("zone, expected", [("UTC", "2024-03-01T14:05:00"), ("Europe/Berlin", "2024-03-01T13:05:00"),
                                            ("+05:30", "2024-03-01T08:35:00"), ("America/New_York", None)])
def test_pre_2_41_csv_local_times_take_the_given_timezone(workspace, tmp_path, zone, expected):
    path = tmp_path / dce.file_name("general", CHANNEL, extension="csv")
    path.write_bytes(dce.csv_export([(ANN, "ann", "03/01/2024 2:05 PM", "local", "", ""),
                                     (ANN, "ann", "2024-03-01T14:05:00.0000000+01:00", "with offset", "", "")]))
    code, out, err = run_cli("import", str(path), "--csv-timezone", zone, "--json", workspace=workspace)
    assert code == 0, err
    times = {content: created for _, created, content in stored(workspace.connect())}
    assert times["local"].startswith(expected or "2024-03-01T19:05:00")   # New York is UTC-5 in March (no DST)
    assert times["with offset"] == "2024-03-01T13:05:00.000000+00:00"     # an offset in the date always wins


def test_an_unknown_csv_timezone_is_one_clear_error(workspace, tmp_path):
    code, _, err = run_cli("import", str(tmp_path), "--csv-timezone", "Mars/Olympus", workspace=workspace)
    assert code != 0 and "--csv-timezone: unknown timezone 'Mars/Olympus'" in err


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset to change this process's zone (POSIX)")
def test_csv_local_times_default_to_this_machines_timezone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        path = tmp_path / dce.file_name("general", CHANNEL, extension="csv")
        path.write_bytes(dce.csv_export([(ANN, "ann", "03/01/2024 2:05 PM", "local", "", "")]))
        conn = connect(tmp_path / "db")
        import_paths(conn, [path])
        assert stored(conn)[0][1] == "2024-03-01T05:05:00.000000+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_real_exports_keep_forwards_and_sticker_text_apart_from_replies(shared_data, tmp_path):
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [shared_data])
    assert report.errors == [] and report.skipped == 0
    forwards = conn.execute("SELECT count(*) FROM messages WHERE reference_kind = 'Forward' "
                            "AND reply_to_id IS NULL AND content = ''").fetchone()[0]
    assert forwards >= 4   # ETHGlobal: empty Default messages pointing to other channels (pre-2026 forwards)
    kinds = dict(conn.execute("SELECT reference_kind, count(*) FROM messages GROUP BY reference_kind"))
    assert collect_stats(conn)["replies"] == kinds.get("Reply", 0) and kinds.get("ThreadCreated", 0) >= 3
    sticker = conn.execute("SELECT content, visible_text FROM messages WHERE id = 1045179638760091709").fetchone()
    assert sticker == ("", "pepecute")
    thread = conn.execute("SELECT kind, parent_id FROM channels WHERE id = 1060927310439657577").fetchone()
    assert thread == ("GuildPublicThread", 1012224565567721552)
    assert report.files == len(list(shared_data.rglob("*.json")))
