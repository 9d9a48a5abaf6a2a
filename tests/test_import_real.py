"""Importing the real DiscordChatExporter exports in ../shared/data, checked against counts taken from the raw JSON."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_cli

GENERAL = 1012224565567721552
THREAD = 1060927310439657577


def raw_messages(folder) -> dict[str, dict]:
    """Every message by id across the export files; of two copies the later edit wins (as the importer keeps)."""
    by_id: dict[str, dict] = {}
    for path in sorted(folder.rglob("*.json")):
        for message in json.loads(path.read_text(encoding="utf-8"))["messages"]:
            kept = by_id.get(message["id"])
            if kept is None or (message["timestampEdited"] or "") >= (kept["timestampEdited"] or ""):
                by_id[message["id"]] = message
    return by_id


def expected_counts(folder) -> dict:
    messages = raw_messages(folder)
    exports = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.rglob("*.json"))]
    channel_of = {message["id"]: export["channel"]["id"] for export in exports for message in export["messages"]}
    # replies as DCE means them: type Reply, or (hand-made/very old exports) a Default message with text that
    # points into its own channel; the empty Default messages pointing elsewhere are forwards, not replies
    replies = [m for m in messages.values() if (m.get("reference") or {}).get("messageId")
               and (m["type"] == "Reply" or (m["type"] == "Default" and (m["content"] or m["attachments"]))
                    and m["reference"]["channelId"] in (None, channel_of.get(m["id"])))]
    return {
        "messages": len(messages),
        "authors": len({m["author"]["id"] for m in messages.values()}),
        "replies": len(replies),
        "replies_resolved": sum(m["reference"]["messageId"] in messages for m in replies),
        "reactions": sum(r["count"] for m in messages.values() for r in m["reactions"]),
        "reacted_messages": sum(bool(m["reactions"]) for m in messages.values()),
    }


def test_import_matches_the_raw_exports(workspace, shared_data):
    expected = expected_counts(shared_data)
    assert expected["messages"] > 500 and expected["replies"] > expected["replies_resolved"] > 0  # sanity of the data

    code, out, err = run_cli("import", str(shared_data), "--json", workspace=workspace)
    assert code == 0, err
    report = json.loads(out)
    assert report["errors"] == [] and report["skipped"] == 0
    assert report["files"] == len(list(shared_data.rglob("*.json")))
    assert report["messages_new"] == expected["messages"]
    assert report["messages_seen"] == sum(len(json.loads(p.read_text(encoding="utf-8"))["messages"])
                                          for p in shared_data.rglob("*.json"))

    code, out, err = run_cli("stats", "--json", workspace=workspace)
    assert code == 0, err
    stats = json.loads(out)
    for key, value in expected.items():
        assert stats[key] == value, key

    conn = workspace.connect()
    assert conn.execute("SELECT count(*) FROM reactions").fetchone()[0] == sum(
        len(m["reactions"]) for m in raw_messages(shared_data).values())
    # the thread file names its parent channel; the parent's own file gave it its real kind
    assert conn.execute("SELECT kind, parent_id FROM channels WHERE id=?", (THREAD,)).fetchone() == (
        "GuildPublicThread", GENERAL)
    assert conn.execute("SELECT kind FROM channels WHERE id=?", (GENERAL,)).fetchone() == ("GuildTextChat",)


def test_lying_message_count_and_dangling_reply(workspace, shared_data):
    guild = shared_data / "dcef-example-guild"
    partial = next(guild.glob("*chill talk*without deleted message.json"))
    export = json.loads(partial.read_text(encoding="utf-8"))
    assert export["messageCount"] == 35 != len(export["messages"])  # the file lies
    ids = {m["id"] for m in export["messages"]}
    dangling = [m for m in export["messages"] if (m.get("reference") or {}).get("messageId", "") not in ids | {""}]
    assert len(dangling) == 1

    assert run_cli("import", str(partial), workspace=workspace)[0] == 0
    conn = workspace.connect()
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(export["messages"])
    reply_id, target_id = int(dangling[0]["id"]), int(dangling[0]["reference"]["messageId"])
    # the id is kept although the target is not stored; the reply resolves once the target arrives
    assert conn.execute("SELECT reply_to_id FROM messages WHERE id=?", (reply_id,)).fetchone() == (target_id,)
    stats = json.loads(run_cli("stats", "--json", workspace=workspace)[1])
    assert (stats["replies"], stats["replies_resolved"]) == (1, 0)
    assert run_cli("import", str(guild), workspace=workspace)[0] == 0
    stats = json.loads(run_cli("stats", "--json", workspace=workspace)[1])
    assert stats["replies_resolved"] == expected_counts(guild)["replies_resolved"] == 5
    assert conn.execute("SELECT count(*) FROM messages WHERE id=?", (target_id,)).fetchone() == (1,)
    joins = conn.execute("SELECT count(*) FROM messages WHERE type='GuildMemberJoin'").fetchone()[0]
    assert joins == sum(m["type"] == "GuildMemberJoin" for m in raw_messages(guild).values()) == 3


def test_display_name_is_the_nickname(workspace, shared_data):
    source = next((shared_data / "ethglobal-dce-json").glob("*.json"))
    assert run_cli("import", str(source), workspace=workspace)[0] == 0
    authors = {m["author"]["id"]: m["author"] for m in json.loads(source.read_text(encoding="utf-8"))["messages"]}
    conn = workspace.connect()
    for author_id, author in authors.items():
        assert conn.execute("SELECT name, display_name, is_bot FROM users WHERE id=?", (int(author_id),)).fetchone() \
            == (author["name"], author["nickname"] or author["name"], int(author["isBot"]))


def test_reimport_adds_nothing_and_edited_copy_updates(workspace, shared_data, tmp_path):
    source = next((shared_data / "ethglobal-dce-json").glob("*.json"))
    assert run_cli("import", str(source), workspace=workspace)[0] == 0
    code, out, _ = run_cli("import", str(source), "--json", workspace=workspace)
    again = json.loads(out)
    assert code == 0 and again["messages_new"] == 0 and again["messages_updated"] == 0
    assert again["messages_seen"] == 520

    export = json.loads(source.read_text(encoding="utf-8"))
    target = next(m for m in export["messages"] if m["content"] and not m["timestampEdited"])
    target["content"] = "edited after the first export ✏️"
    target["timestampEdited"] = "2025-02-10T09:00:00.1234567+02:00"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(export, indent=2), encoding="utf-8")
    code, out, _ = run_cli("import", str(edited), "--json", workspace=workspace)
    report = json.loads(out)
    assert code == 0 and (report["messages_new"], report["messages_updated"]) == (0, 1)
    conn = workspace.connect()
    row = conn.execute("SELECT content, edited_at FROM messages WHERE id=?", (int(target["id"]),)).fetchone()
    assert row == ("edited after the first export ✏️", "2025-02-10T07:00:00.123456+00:00")
    # the older export imported again does not undo the edit
    code, out, _ = run_cli("import", str(source), "--json", workspace=workspace)
    assert json.loads(out)["messages_updated"] == 0
    assert conn.execute("SELECT content FROM messages WHERE id=?", (int(target["id"]),)).fetchone()[0] == \
        "edited after the first export ✏️"
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 520


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_zip_and_folder_give_the_same_rows(workspace, shared_data, tmp_path, layout):
    guild = shared_data / "dcef-example-guild"
    if layout == "zip":
        target = shutil.make_archive(str(tmp_path / "export"), "zip", root_dir=guild)
    else:
        target = tmp_path / "copy"
        shutil.copytree(guild, target)
    code, out, err = run_cli("import", str(target), "--json", workspace=workspace)
    assert code == 0, err
    assert json.loads(out)["files"] == 4
    conn = workspace.connect()
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(raw_messages(guild))
    assert conn.execute("SELECT count(*) FROM channels WHERE parent_id=?", (GENERAL,)).fetchone()[0] == 1
