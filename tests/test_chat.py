"""The ``chat`` playground: the bot's pipeline without Discord, over the sample server's stored messages."""
from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from contextlib import closing

import pytest

from core.config.resources import PROJECT_ROOT, asset
from tests.conftest import run_cli
from tests.test_reply_pipeline import FakeEngine

SMOL = PROJECT_ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERAL = 1200000000000000010  # the sample server's #general


@pytest.fixture
def sample_workspace(workspace):
    from core.ingest.importer import import_paths
    with closing(workspace.connect()) as conn:
        report = import_paths(conn, [asset("sample_server", "export")])
    assert report.messages_seen > 1000
    return workspace


def test_stored_channel_messages_and_the_typed_line_make_the_prompt(sample_workspace):
    from model.chat_worker import Session
    from model.reply_pipeline import ReplyPipeline
    engine = FakeEngine(["Marguerite: oh lovely, count me in\nYou: me too", "sure"])
    with closing(sample_workspace.connect()) as conn:
        last = conn.execute("SELECT content FROM messages WHERE channel_id = ? AND content != '' "
                            "ORDER BY id DESC LIMIT 1", (GENERAL,)).fetchone()[0]
        args = Namespace(persona="Marguerite", channel=GENERAL)
        session = Session(ReplyPipeline(engine), conn, args)
    reply = session.answer("anyone want tea?")
    messages = engine.calls[0]["messages"]
    assert messages[0]["content"].startswith('You are Marguerite, chatting in a channel named "general" on a server '
                                             'named "Moonbase Cafe"')
    assert messages[-1]["role"] == "user" and messages[-1]["content"].endswith("You: anyone want tea?")
    assert last.split()[0] in json.dumps(messages, ensure_ascii=False)  # the stored conversation is the context
    assert len(messages) > 2
    assert "\nYou:" in engine.calls[0]["stop"] and "\nMarguerite:" not in engine.calls[0]["stop"]
    assert reply.text == "oh lovely, count me in"
    session.answer("and cake?")  # the persona's answer is now part of the conversation, as the bot's own message
    second = engine.calls[1]["messages"]
    assert {"role": "assistant", "content": "oh lovely, count me in"} in second


def test_unknown_persona_and_missing_model_are_one_line_errors(sample_workspace):
    code, _, err = run_cli("chat", "--persona", "Nobody At All", "hi", workspace=sample_workspace)
    assert code == 1 and err.count("\n") == 1 and "no user named" in err
    code, _, err = run_cli("chat", "--persona", "Marguerite", "hi", workspace=sample_workspace)
    assert code == 1 and "no exported model" in err
    code, _, err = run_cli("chat", "--persona", "Marguerite", "--channel", "42", "--model", str(SMOL), "hi",
                           workspace=sample_workspace)
    assert code == 1 and "no such channel" in err


@pytest.mark.slow
def test_one_shot_chat_with_the_real_model_prints_a_reply(sample_workspace):
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    code, out, err = run_cli("chat", "--persona", "Marguerite", "--model", str(SMOL), "--channel", str(GENERAL),
                             "--seed", "1", "--max-tokens", "40", "--json", "anyone want tea?",
                             workspace=sample_workspace)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert result["persona"] == "Marguerite" and result["model"] == str(SMOL)
    assert result["dropped_reason"] is None and result["reply"].strip()
    assert result["parts"] == [result["reply"]] and 0 < result["tokens"] <= 40
    assert result["prompt_tokens"] > 100  # the channel's stored conversation is in the prompt
    code, out, err = run_cli("chat", "--persona", "Marguerite", "--model", str(SMOL), "--seed", "1", "hello",
                             workspace=sample_workspace)
    assert code == 0 and out.strip(), err[-2000:]  # human output: the reply itself


@pytest.mark.slow
def test_interactive_chat_keeps_one_worker_for_every_line(sample_workspace):
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "launcher.py"), "--workspace", str(sample_workspace.root), "chat",
         "--persona", "Wren", "--model", str(SMOL), "--seed", "2", "--max-tokens", "24", "--no-memory"],
        input="hello there\nwhat are you up to?\n/quit\n", capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    answers = [line for line in completed.stdout.splitlines() if "Wren" in line]
    assert len(answers) == 2, completed.stdout
    log = (sample_workspace.logs_dir / "chat" / "run.log").read_text(encoding="utf-8")
    assert log.count("launched pid") == 1  # one worker answered both lines


def test_model_choice_flag_then_bot_setting_then_newest_export(sample_workspace, tmp_path):
    import os
    import time
    from core.cli.base import Context
    from core.cli.chat_command import choose_model
    context = Context.from_args(Namespace(workspace=str(sample_workspace.root), json=False, debug=False))
    runs = sample_workspace.runs_dir
    older, newer = runs / "run-a" / "export" / "model-q4_k_m.gguf", runs / "run-b" / "export" / "model-q8_0.gguf"
    for path in (older, newer):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"GGUF")
    os.utime(older, (time.time() - 100, time.time() - 100))
    assert choose_model(Namespace(model=None), context) == newer
    chosen = tmp_path / "chosen.gguf"
    chosen.write_bytes(b"GGUF")
    from storage import bot_settings
    bot_settings.set_value(context.db, "model_path", str(chosen))
    assert choose_model(Namespace(model=None), context) == chosen
    assert choose_model(Namespace(model=older), context) == older.resolve()


def test_a_channel_title_naming_an_opted_out_person_never_reaches_the_playground_prompt(sample_workspace):
    from core.consent.actions import opt_out
    from core.prompting.playground import channel_place
    with closing(sample_workspace.connect()) as conn:
        wren = conn.execute("SELECT id FROM users WHERE name = 'wren' OR display_name = 'Wren'").fetchone()[0]
        conn.execute("UPDATE channels SET name = 'wren-fan-club' WHERE id = ?", (GENERAL,))
        conn.commit()
        assert "wren" in channel_place(conn, GENERAL).channel.lower()  # the check below can fail
        opt_out(conn, sample_workspace.root, wren)
        assert "wren" not in channel_place(conn, GENERAL).channel.lower()


# -- which memories the playground may recall ---------------------------------------------------------------------
TOWN, STAFF, IMPORTED, OPEN_THREAD, SECRET_THREAD, STAFF_THREAD, ELSEWHERE = 8201, 8202, 8203, 8204, 8205, 8206, 8301
OTHER_GUILD = 900_000_000_000_000_777
MARKS = {TOWN: "zebra-town-plaza", STAFF: "zebra-staff-roster", IMPORTED: "zebra-imported-ledger",
         OPEN_THREAD: "zebra-open-thread", SECRET_THREAD: "zebra-secret-thread", STAFF_THREAD: "zebra-staff-thread",
         ELSEWHERE: "zebra-other-server"}
PUBLIC_HERE = {TOWN, OPEN_THREAD}


def scoped_history():
    """A server with a channel @everyone reads, one only staff read, one imported (unknown), a public thread of the
    public channel (imported: unknown itself), a private thread, a thread of the staff channel; and another server."""
    from storage.rows import ChannelRow, GuildRow
    from tests.test_dataset_support import GUILD_ID, History
    history = History(guild_name="Zebra Club")
    history.batch.guilds[OTHER_GUILD] = GuildRow(OTHER_GUILD, "Elsewhere")
    for row in (ChannelRow(TOWN, GUILD_ID, "GuildTextChat", "town", everyone_reads=True),
                ChannelRow(STAFF, GUILD_ID, "GuildTextChat", "staff", everyone_reads=False),
                ChannelRow(IMPORTED, GUILD_ID, "GuildTextChat", "imported"),
                ChannelRow(OPEN_THREAD, GUILD_ID, "GuildPublicThread", "open", parent_id=TOWN),
                ChannelRow(SECRET_THREAD, GUILD_ID, "GuildPrivateThread", "secret", parent_id=TOWN,
                           everyone_reads=False),
                ChannelRow(STAFF_THREAD, GUILD_ID, "GuildPublicThread", "rota", parent_id=STAFF, everyone_reads=False),
                ChannelRow(ELSEWHERE, OTHER_GUILD, "GuildTextChat", "elsewhere", everyone_reads=True)):
        history.batch.channels[row.id] = row
    history.user(501, "Ann")
    history.user(502, "Cid")
    for channel, mark in MARKS.items():
        history.say(channel, 502, f"zebra fact: the herd crosses the river at dawn ({mark})")
        history.say(channel, 501, "good to know")
    return history, GUILD_ID


def test_the_playground_scope_is_the_channels_everyone_can_read_in_the_server(workspace):
    from core.memory.scope import playground_channels, public_channels
    from storage import bot_settings
    history, guild = scoped_history()
    with closing(workspace.connect()) as conn:
        history.write(conn)
        assert public_channels(conn, [guild]) == PUBLIC_HERE
        assert public_channels(conn, [guild, OTHER_GUILD]) == PUBLIC_HERE | {ELSEWHERE}
        assert public_channels(conn, []) == frozenset()
        for channel in (TOWN, STAFF, SECRET_THREAD):  # whichever channel of the server the chat is in
            assert playground_channels(conn, channel) == PUBLIC_HERE
        assert playground_channels(conn, ELSEWHERE) == {ELSEWHERE}
        assert playground_channels(conn, None) == frozenset()  # no home server yet: nothing
        bot_settings.set_value(conn, "home_guild_ids", [guild])
        assert playground_channels(conn, None) == PUBLIC_HERE


def test_an_imported_export_says_nothing_about_who_reads_a_channel(sample_workspace):
    from core.memory.scope import playground_channels
    with closing(sample_workspace.connect()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM channels WHERE everyone_reads IS NOT NULL").fetchone()[0] == 0
        assert playground_channels(conn, GENERAL) == frozenset()  # unknown is never public


@pytest.mark.slow
@pytest.mark.parametrize("channel", [TOWN, None], ids=["channel", "home-server"])
def test_the_playground_recalls_only_memories_everyone_in_the_server_could_read(workspace, channel):
    """The real embedder and LanceDB folder (``embed``), then the chat worker's own session and memory."""
    from core.config.app_config import load_config
    from model.chat_worker import Session, open_memory
    from model.reply_pipeline import ReplyPipeline
    from core.prompting.reply import ReplySettings
    from storage import bot_settings
    workspace.config_path.write_text("[memory]\ntop_k = 10\nrecency_weight = 0.0\n", encoding="utf-8")
    history, guild = scoped_history()
    with closing(workspace.connect()) as conn:
        history.write(conn)
        bot_settings.set_value(conn, "home_guild_ids", [guild])
    code, out, err = run_cli("embed", "--json", workspace=workspace)
    assert code == 0 and json.loads(out)["embedded"] == 2 * len(MARKS), err[-2000:]
    config = load_config(workspace.config_path)
    memory = open_memory(workspace, config, True)
    engine = FakeEngine(["sure"])
    with closing(workspace.connect()) as conn:
        session = Session(ReplyPipeline(engine, memory, None, ReplySettings(memory_k=10)), conn,
                          Namespace(persona="Ann", channel=channel))
    reply = session.answer("where does the zebra herd cross the river?")
    system = engine.calls[0]["messages"][0]["content"]
    recalled = {mark for mark in MARKS.values() if mark in system}
    in_context = {MARKS[TOWN]} if channel == TOWN else set()  # the channel's own messages are the conversation
    assert recalled == {MARKS[c] for c in PUBLIC_HERE} - in_context, system
    assert recalled == {mark for mark in MARKS.values() if any(mark in text for text in reply.memories)}
