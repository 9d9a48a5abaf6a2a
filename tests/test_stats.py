"""`stats`: every count on a small database whose answer is known."""
from __future__ import annotations

import json

from storage.messages import write_batch
from storage.rows import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow
from storage.stats import collect_stats
from tests.conftest import run_cli

ALICE, BOB, BOT = UserRow(11, "alice", "Alice"), UserRow(12, "bob", None), UserRow(13, "helper", "Helper", True)


def row(message_id, author, day, channel=100, **fields) -> MessageRow:
    return MessageRow(message_id, channel, author.id, f"2024-01-{day:02d}T10:00:00.000000+00:00", None,
                      fields.pop("type", "Default"), fields.pop("content", "hi"), **fields)


def fill(conn) -> None:
    batch = MessageBatch(
        messages=[row(1, ALICE, 3, reactions=(("🔥", 2), ("👍", 1))),
                  row(2, BOB, 4, type="Reply", reply_to_id=1),
                  row(3, BOT, 5, type="ChatInputCommand", reply_to_id=999),   # dangling
                  row(4, BOB, 2, type="GuildMemberJoin", content=""),         # system messages count too
                  row(5, ALICE, 9, channel=101, reactions=(("<:pepe:77>", 4),))],
        users={u.id: u for u in (ALICE, BOB, BOT)},
        channels={100: ChannelRow(100, 1, "GuildTextChat", "general"),
                  101: ChannelRow(101, 1, "GuildPublicThread", "thread", parent_id=100),
                  102: ChannelRow(102, 1, "GuildTextChat", "empty")},
        guilds={1: GuildRow(1, "guild")})
    write_batch(conn, batch)


EXPECTED = {"messages": 5, "authors": 3, "bots": 1, "channels": 2, "replies": 2, "replies_resolved": 1,
            "reactions": 7, "reacted_messages": 2, "first": "2024-01-02T10:00:00.000000+00:00",
            "last": "2024-01-09T10:00:00.000000+00:00",
            "top_authors": [{"id": 11, "name": "Alice", "messages": 2}, {"id": 12, "name": "bob", "messages": 2},
                            {"id": 13, "name": "Helper", "messages": 1}]}


def test_collect_stats(workspace):
    conn = workspace.connect()
    fill(conn)
    assert collect_stats(conn) == EXPECTED
    assert collect_stats(conn, top=1)["top_authors"] == EXPECTED["top_authors"][:1]


def test_stats_command_json_and_text(workspace):
    fill(workspace.connect())
    code, out, err = run_cli("stats", "--json", workspace=workspace)
    assert code == 0 and err == ""
    assert json.loads(out) == EXPECTED
    code, out, _ = run_cli("stats", workspace=workspace)
    assert code == 0
    assert "replies:           2 (1 with the replied-to message stored)" in out
    assert "authors:           3 (1 bots)" in out and "2  Alice (11)" in out


def test_stats_of_an_empty_workspace(workspace):
    code, out, _ = run_cli("stats", "--json", workspace=workspace)
    stats = json.loads(out)
    assert code == 0 and stats["messages"] == stats["replies_resolved"] == stats["reactions"] == 0
    assert stats["first"] is None and stats["top_authors"] == []
