"""DCE conformance, JSON: exports in DiscordChatExporter's exact shape (tests/dce_shape.py, built from its writer
source, both layouts) imported into a real SQLite workspace and compared with the stored rows."""
from __future__ import annotations

import os

import pytest

from core.ingest.importer import import_paths
from storage.db import connect
from storage.stats import collect_stats
from tests import dce_shape as dce

GENERAL, THREAD, FORUM, FORUM_POST, ELSEWHERE = 1012224565567721552, 1060927310439657577, 1012224565567720000, \
    1060927310439650000, 633092550407749652
ANN, BOB = dce.user(521486476985155645, "ann", "Ann"), dce.user(896568767994532880, "bob", "Bob")


@pytest.fixture(params=dce.LAYOUTS)
def layout(request) -> str:
    return request.param


def write(folder, name: str, document: dict, layout: str, mtime: float | None = None):
    path = folder / name
    path.write_bytes(dce.render(document, layout))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def stored(conn, message_id: int) -> dict:
    cursor = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,))
    row = cursor.fetchone()
    assert row is not None, f"message {message_id} not stored"
    return dict(zip([column[0] for column in cursor.description], row))


def reactions(conn, message_id: int) -> dict:
    return dict(conn.execute("SELECT emoji, count FROM reactions WHERE message_id = ?", (message_id,)))


def test_only_replies_are_replies(tmp_path, layout):
    messages = [
        dce.message(100, ANN, "the plan"),
        dce.message(101, BOB, "agreed", kind="Reply", ref=dce.reference(100, GENERAL)),
        dce.message(102, ANN, "Pinned a message.", kind="ChannelPinnedMessage", ref=dce.reference(100, GENERAL)),
        dce.message(103, BOB, "", ref=dce.reference(55, ELSEWHERE, kind="Forward"),
                    forward=dce.forwarded("look at this", "2024-02-01T09:00:00.000+00:00")),
        dce.message(104, BOB, "", ref=dce.reference(56, ELSEWHERE, kind=None)),  # a forward before 2026
        dce.message(105, ANN, "Release 2.0 is out", ref=dce.reference(57, ELSEWHERE, guild_id="1", kind=None)),
        dce.message(106, ANN, "Started a thread.", kind="ThreadCreated", ref=dce.reference(None, THREAD)),
    ]
    conn = connect(tmp_path / "db")
    path = write(tmp_path, dce.file_name("general", GENERAL), dce.export(dce.channel(GENERAL, "general"), messages),
                 layout)
    assert import_paths(conn, [path]).messages_new == 7
    expected = {101: (100, 100, "Reply"), 102: (None, 100, "Pin"), 103: (None, 55, "Forward"),
                104: (None, 56, "Forward"), 105: (None, 57, "Crosspost"), 106: (None, None, "ThreadCreated")}
    for message_id, (reply_to, reference_id, kind) in expected.items():
        row = stored(conn, message_id)
        assert (row["reply_to_id"], row["reference_id"], row["reference_kind"]) == (reply_to, reference_id, kind)
    assert stored(conn, 100)["reference_kind"] is None
    assert collect_stats(conn)["replies"] == 1


def test_forwards_keep_their_forwarded_text_marked_as_forwarded(tmp_path, layout):
    forward = dce.message(200, BOB, "", ref=dce.reference(55, ELSEWHERE, kind="Forward"),
                          forward=dce.forwarded("the forwarded words", "2024-02-01T09:00:00.000+00:00",
                                                embeds=[dce.embed("A linked page")]))
    conn = connect(tmp_path / "db")
    import_paths(conn, [write(tmp_path, "f.json", dce.export(dce.channel(GENERAL, "general"), [forward]), layout)])
    row = stored(conn, 200)
    assert (row["content"], row["forwarded_content"], row["reference_kind"]) == ("", "the forwarded words", "Forward")
    assert row["visible_text"] == "A linked page"


def test_embed_and_sticker_only_messages_keep_their_visible_text(tmp_path, layout):
    messages = [
        dce.message(300, BOB, embeds=[dce.embed("Daily report", "3 builds passed\nall green"), dce.embed("", "")]),
        dce.message(301, ANN, stickers=[dce.sticker(1045179611115421738, "pepecute")]),
        dce.message(302, ANN, "plain words"),
    ]
    conn = connect(tmp_path / "db")
    import_paths(conn, [write(tmp_path, "e.json", dce.export(dce.channel(GENERAL, "general"), messages), layout)])
    assert (stored(conn, 300)["content"], stored(conn, 300)["visible_text"]) == ("", "Daily report\n3 builds passed\n"
                                                                                     "all green")
    assert stored(conn, 301)["visible_text"] == "pepecute"
    assert stored(conn, 302)["visible_text"] is None


@pytest.mark.parametrize("order", ["older-last", "older-first"])
@pytest.mark.parametrize("dated_by", ["exportedAt", "file time"])
def test_an_older_export_never_removes_anything_newer(tmp_path, layout, order, dated_by):
    def snapshot(pinned, reacted, exported_at):
        messages = [dce.message(400, ANN, "vote here", pinned=pinned, reactions=reacted),
                    dce.message(401, BOB, "edited later", edited="2024-03-05T10:00:00.000+00:00")]
        return dce.export(dce.channel(GENERAL, "general"), messages,
                          exported_at=exported_at if dated_by == "exportedAt" else None)
    newer = snapshot(True, [dce.reaction("👍", 3), dce.reaction("❤", 1)], "2024-03-10T00:00:00.0000000+00:00")
    older = snapshot(False, [dce.reaction("👍", 1)], "2024-03-01T00:00:00.0000000+00:00")
    newer["messages"][1]["timestampEdited"] = "2024-03-06T10:00:00.000+00:00"
    newer["messages"][1]["content"] = "edited later, again"
    newer_path = write(tmp_path, "new.json", newer, layout, mtime=1_710_028_800)   # 2024-03-10
    older_path = write(tmp_path, "old.json", older, layout, mtime=1_709_251_200)   # 2024-03-01
    conn = connect(tmp_path / "db")
    for path in ([newer_path, older_path] if order == "older-last" else [older_path, newer_path]):
        import_paths(conn, [path])
    assert stored(conn, 400)["pinned"] == 1
    assert reactions(conn, 400) == {"👍": 3, "❤": 1}
    assert stored(conn, 401)["content"] == "edited later, again"


@pytest.mark.parametrize("order", ["channel-first", "thread-first"])
def test_a_thread_starter_is_stored_in_the_same_place_whatever_the_order(tmp_path, layout, order):
    parent = dce.export(dce.channel(GENERAL, "general"), [
        dce.message(THREAD, ANN, "Thomas is Thomas", reactions=[dce.reaction("😂", 2)]),
        dce.message(THREAD + 5, ANN, "Started a thread.", kind="ThreadCreated", ref=dce.reference(None, THREAD))])
    thread = dce.export(dce.channel(THREAD, "Thomas is Thomas", "GuildPublicThread", parent_id=GENERAL,
                                    parent="general"), [
        dce.message(THREAD, ANN, "", kind="21", ref=dce.reference(THREAD, GENERAL)),   # Discord's starter stub
        dce.message(THREAD + 9, BOB, "he is", kind="Reply", ref=dce.reference(THREAD, GENERAL))])
    forum_post = dce.export(dce.channel(FORUM_POST, "How do I start?", "GuildPublicThread", parent_id=FORUM,
                                        parent="help"), [dce.message(FORUM_POST, BOB, "the opening post")])
    channel_path = write(tmp_path, "c.json", parent, layout)
    thread_path = write(tmp_path, "t.json", thread, layout)
    post_path = write(tmp_path, "p.json", forum_post, layout)
    conn = connect(tmp_path / "db")
    for path in ([channel_path, thread_path] if order == "channel-first" else [thread_path, channel_path]):
        import_paths(conn, [path])
    import_paths(conn, [post_path])
    starter = stored(conn, THREAD)
    assert (starter["channel_id"], starter["type"], starter["content"]) == (THREAD, "Default", "Thomas is Thomas")
    assert reactions(conn, THREAD) == {"😂": 2}
    assert stored(conn, THREAD + 9)["reply_to_id"] == THREAD
    assert stored(conn, FORUM_POST)["channel_id"] == FORUM_POST
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 4


@pytest.mark.parametrize("number, kind", [("10", "GuildNewsThread"), ("11", "GuildPublicThread"),
                                          ("12", "GuildPrivateThread")])
def test_thread_files_with_numeric_channel_types_are_threads(tmp_path, layout, number, kind):
    thread = dce.export(dce.channel(THREAD, "old thread", number, parent_id=GENERAL, parent="general"),
                        [dce.message(500, ANN, "from DCE 2.34")], exported_at=None)
    conn = connect(tmp_path / "db")
    import_paths(conn, [write(tmp_path, "t.json", thread, layout)])
    assert conn.execute("SELECT kind, parent_id FROM channels WHERE id = ?", (THREAD,)).fetchone() == (kind, GENERAL)
    assert stored(conn, 500)["channel_id"] == THREAD


def test_a_truncated_file_keeps_every_complete_message_and_says_where_it_stopped(tmp_path, layout):
    messages = [dce.message(600 + n, ANN if n % 2 else BOB, f"message number {n}") for n in range(40)]
    full = dce.render(dce.export(dce.channel(GENERAL, "general"), messages), layout)
    cut = full.index(b"message number 27")   # inside message 28 (index 27)
    path = tmp_path / "cut.json"
    path.write_bytes(full[:cut])
    conn = connect(tmp_path / "db")
    report = import_paths(conn, [path], batch_size=10)
    assert len(report.errors) == 1
    error = report.errors[0]
    assert "truncated" in error and f"at byte {cut}" in error and "the 27 complete messages before it" in error
    assert [row[0] for row in conn.execute("SELECT id FROM messages ORDER BY id")] == list(range(600, 627))
