"""What real exports contain: odd timestamps, numeric types, system messages, mentions, CSV, zip, both JSON readers."""
from __future__ import annotations

import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ingest.dce_mapping import message_from_dce, timestamp
from core.ingest.importer import import_paths
from core.ingest.records import RecordError, normalize_timestamp
from storage.db import connect
from tests.conftest import run_cli

GUILD = {"id": "900000000000000001", "name": "Test guild", "iconUrl": None}
CHANNEL = {"id": "900000000000000010", "type": "GuildTextChat", "categoryId": "900000000000000002",
           "category": "Text", "name": "general", "topic": None}
ALICE = {"id": "800000000000000001", "name": "alice", "discriminator": "0000", "nickname": "Alice ✨",
         "color": None, "isBot": False, "avatarUrl": "a.png"}
BOT = {"id": "800000000000000002", "name": "robot", "discriminator": "1234", "nickname": None, "color": None,
       "isBot": True, "avatarUrl": "b.png"}


def message(number: int, **fields) -> dict:
    base = {"id": str(1_100_000_000_000_000_000 + number), "type": "Default",
            "timestamp": f"2024-03-01T12:00:{number % 60:02d}.5+00:00", "timestampEdited": None,
            "callEndedTimestamp": None, "isPinned": False, "content": f"message {number}", "author": ALICE,
            "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": [], "inlineEmojis": []}
    base.update(fields)
    return base


def export(messages: list[dict], channel=CHANNEL, count: int | None = None) -> dict:
    return {"guild": GUILD, "channel": channel, "dateRange": {"after": None, "before": None},
            "exportedAt": "2024-03-02T00:00:00.1234567+00:00", "messages": messages,
            "messageCount": len(messages) if count is None else count}


ODD = [
    message(1, timestamp="2024-03-01T17:30:01.1234567+05:30"),               # 7 fraction digits, +05:30
    message(2, timestamp="2024-02-29T23:59:59-08:00", type="20", author=BOT),  # no fraction, numeric type
    message(3, timestamp="2024-03-01T12:00:03Z", type=19, content="",          # Z, number type, empty content
            reference={"messageId": "1100000000000000001", "channelId": CHANNEL["id"], "guildId": GUILD["id"]}),
    message(4, type="GuildMemberJoin", content="Joined the server."),
    message(5, content="hey @Alice ✨ and <@!800000000000000002> <#900000000000000010> <@&7>",
            mentions=[{"id": ALICE["id"], "name": "alice", "nickname": "Alice ✨", "isBot": False}],
            timestampEdited="2024-03-01T13:00:00.000001+01:00", isPinned=True,
            attachments=[{"id": "1", "url": "https://cdn.example/a.png", "fileName": "a.png", "fileSizeBytes": 3}],
            reactions=[{"emoji": {"id": "", "name": "🔥", "code": "fire", "isAnimated": False}, "count": 3},
                       {"emoji": {"id": "921503115159691286", "name": "pepe", "isAnimated": True}, "count": 1}]),
    message(6, content=None, type="ThreadCreated",
            reference={"messageId": None, "channelId": "900000000000000011", "guildId": GUILD["id"]}),
]


def stored(conn) -> list[tuple]:
    return conn.execute("SELECT id, channel_id, author_id, created_at, edited_at, type, content, reply_to_id, "
                        "mentions, attachment_count, attachment_urls, pinned FROM messages ORDER BY id").fetchall()


def test_odd_values_are_normalised(workspace, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(export(ODD, count=99), indent=2, ensure_ascii=False), encoding="utf-8")
    code, out, err = run_cli("import", str(path), "--json", workspace=workspace)
    assert code == 0, err
    assert json.loads(out)["messages_new"] == len(ODD)
    rows = {row[0] - 1_100_000_000_000_000_000: row for row in stored(workspace.connect())}
    assert rows[1][3] == "2024-03-01T12:00:01.123456+00:00"
    assert rows[2][3] == "2024-03-01T07:59:59.000000+00:00" and rows[2][5] == "ChatInputCommand"
    assert rows[3][3:8] == ("2024-03-01T12:00:03.000000+00:00", None, "Reply", "", 1_100_000_000_000_000_001)
    assert rows[4][5] == "GuildMemberJoin" and rows[6][5:8] == ("ThreadCreated", "", None)
    assert rows[5][4] == "2024-03-01T12:00:00.000001+00:00"
    assert json.loads(rows[5][8]) == [800000000000000001, 800000000000000002]  # both mention styles
    assert rows[5][9:] == (1, '["https://cdn.example/a.png"]', 1)
    conn = workspace.connect()
    assert sorted(conn.execute("SELECT emoji, count FROM reactions").fetchall()) == [
        ("<a:pepe:921503115159691286>", 1), ("🔥", 3)]
    assert conn.execute("SELECT is_bot, display_name FROM users WHERE id=?", (int(BOT["id"]),)).fetchone() == (
        1, "robot")


def test_minified_and_indented_exports_store_identical_rows(tmp_path):
    """The fast span reader (DCE's indented layout) and the general streaming parser agree."""
    messages = ODD + [message(n, content=f"line one\nline two \"{n}\" }}\n    }}") for n in range(10, 40)]
    results = []
    for name, text in (("indented", json.dumps(export(messages), indent=2)),
                       ("crlf", json.dumps(export(messages), indent=2).replace("\n", "\r\n")),
                       ("minified", json.dumps(export(messages), separators=(",", ":")))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "export.json").write_text(text, encoding="utf-8")
        conn = connect(tmp_path / f"{name}.db")
        report = import_paths(conn, [tmp_path / name])
        assert report.errors == [] and report.messages_new == len(messages)
        results.append(stored(conn))
    assert results[0] == results[1] == results[2]


def test_thread_file_names_its_parent(tmp_path):
    thread = {"id": "900000000000000011", "type": "GuildPrivateThread", "categoryId": CHANNEL["id"],
              "category": "general", "name": "a thread", "topic": None}
    (tmp_path / "t.json").write_text(json.dumps(export([message(50)], channel=thread), indent=2), encoding="utf-8")
    conn = connect(tmp_path / "db")
    assert import_paths(conn, [tmp_path / "t.json"]).messages_new == 1
    rows = dict((row[0], row[1:]) for row in conn.execute("SELECT id, kind, parent_id, name FROM channels"))
    assert rows[int(thread["id"])] == ("GuildPrivateThread", int(CHANNEL["id"]), "a thread")
    assert rows[int(CHANNEL["id"])] == ("Unknown", None, "general")  # placeholder until its own file comes
    (tmp_path / "c.json").write_text(json.dumps(export([message(51)]), indent=2), encoding="utf-8")
    import_paths(conn, [tmp_path / "c.json"])
    assert conn.execute("SELECT kind FROM channels WHERE id=?", (int(CHANNEL["id"]),)).fetchone() == ("GuildTextChat",)
    import_paths(conn, [tmp_path / "t.json"])  # the placeholder never downgrades a known channel
    assert conn.execute("SELECT kind FROM channels WHERE id=?", (int(CHANNEL["id"]),)).fetchone() == ("GuildTextChat",)


CSV_TEXT = (
    "AuthorID,Author,Date,Content,Attachments,Reactions\n"
    '"800000000000000001","alice#0420","3/1/2024 2:05 PM","hello ""there""","",""\n'
    '"800000000000000001","alice#0420","3/1/2024 2:05 PM","second in the same minute\nwith a newline\u2028sep",'
    '"https://cdn.example/a.png,https://cdn.example/b.png","🔥 (3),pepe (1)"\n'
    '"800000000000000003","bob","2024-03-01T14:06:30.25+01:00","<@800000000000000001> hi","",""\n'
    "\n"
)


def test_csv_import_is_deterministic(workspace, tmp_path):
    path = tmp_path / "Test guild - Text - general [900000000000000010].csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    code, out, err = run_cli("import", str(path), "--json", "--csv-timezone", "UTC", workspace=workspace)
    assert code == 0, err
    assert json.loads(out)["messages_new"] == 3
    conn = workspace.connect()
    rows = stored(conn)
    assert [row[3] for row in rows] == ["2024-03-01T13:06:30.250000+00:00", "2024-03-01T14:05:00.000000+00:00",
                                        "2024-03-01T14:05:00.000000+00:00"]
    assert rows[2][0] - rows[1][0] == 1 << 22  # the same author's second message that minute: the next millisecond
    assert {row[1] for row in rows} == {900000000000000010}
    assert rows[2][6] == "second in the same minute\nwith a newline\u2028sep" and rows[2][9] == 2
    assert json.loads(rows[0][8]) == [800000000000000001]
    assert sorted(conn.execute("SELECT emoji, count FROM reactions").fetchall()) == [("pepe", 1), ("🔥", 3)]
    assert conn.execute("SELECT name, display_name FROM users WHERE id=800000000000000001").fetchone() == (
        "alice", None)  # a CSV names the account, not the nickname
    code, out, _ = run_cli("import", str(path), "--json", "--csv-timezone", "UTC", workspace=workspace)
    assert (json.loads(out)["messages_new"], json.loads(out)["messages_updated"]) == (0, 0)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 3


def test_csv_without_channel_id_or_header_fails_clearly(workspace, tmp_path):
    (tmp_path / "no id.csv").write_text(CSV_TEXT, encoding="utf-8")
    (tmp_path / "x [900000000000000010].csv").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    code, _, err = run_cli("import", str(tmp_path), workspace=workspace)
    assert code == 1
    assert "no id.csv: a DCE CSV export is named" in err
    assert "x [900000000000000010].csv: not a DiscordChatExporter CSV export" in err


def test_zip_members_are_streamed(tmp_path):
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("a/general.json", json.dumps(export(ODD), indent=2))
        zipped.writestr("a/general [900000000000000010].csv", CSV_TEXT)
        zipped.writestr("a/general.json_Files/picture.png", b"\x89PNG not an export")
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [archive])
    assert report.errors == [] and report.files == 2 and report.messages_new == len(ODD) + 3


def test_message_from_dce_returns_author_then_mentioned():
    row, users = message_from_dce(ODD[4], 5)
    assert [user.id for user in users] == [int(ALICE["id"]), int(ALICE["id"])]
    assert row.channel_id == 5 and row.pinned and row.reactions == (("🔥", 3), ("<a:pepe:921503115159691286>", 1))


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.just(None)), st.integers(0, 7), st.integers(-14 * 60, 14 * 60), st.booleans())
def test_fast_timestamp_path_equals_the_shared_normaliser(moment, digits, offset_minutes, zulu):
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}"
    if digits:
        text += "." + f"{moment.microsecond:06d}{moment.microsecond % 10}"[:digits]
    sign = "-" if offset_minutes < 0 else "+"
    text += "Z" if zulu else f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    try:
        expected = normalize_timestamp(text)
    except (ValueError, OverflowError):  # out of range once moved to UTC
        with pytest.raises(RecordError):
            timestamp(text, "timestamp")
        return
    assert timestamp(text, "timestamp") == expected


def test_layout_change_midway_hands_over_without_loss(tmp_path, monkeypatch):
    """The fast reader hands over to the general parser mid-file: no message lost or repeated."""
    import core.ingest.dce_json as dce_json
    handovers = []
    original = dce_json.general_messages

    def counting(open_stream, skip, **options):
        handovers.append(skip)
        return original(open_stream, skip, **options)

    monkeypatch.setattr(dce_json, "general_messages", counting)
    messages = [message(n) for n in range(20)]
    indents = ["    " if n < 7 else "      " for n in range(len(messages))]
    blocks = [indent + json.dumps(m, indent=2).replace("\n", "\n" + indent) for indent, m in zip(indents, messages)]
    head = json.dumps(export([]), indent=2)
    text = (head[:head.index('"messages": []')] + '"messages": [\n' + ",\n".join(blocks)
            + '\n  ],\n  "messageCount": 20\n}\n')
    (tmp_path / "mixed.json").write_text(text, encoding="utf-8")
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [tmp_path / "mixed.json"])
    assert handovers == [7]
    assert report.errors == [] and report.messages_seen == report.messages_new == 20

    handovers.clear()
    (tmp_path / "plain.json").write_text(json.dumps(export(messages), indent=2), encoding="utf-8")
    assert import_paths(connect(tmp_path / "db2"), [tmp_path / "plain.json"]).messages_new == 20
    assert handovers == []  # DCE's own layout never needs the general parser
