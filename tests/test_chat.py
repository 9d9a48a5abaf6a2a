"""The ``chat`` playground: the bot's pipeline without Discord, over the sample server's stored messages."""
from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from contextlib import closing
from pathlib import Path

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
    from core.dataset.privacy import opt_out
    from core.prompting.playground import channel_place
    with closing(sample_workspace.connect()) as conn:
        wren = conn.execute("SELECT id FROM users WHERE name = 'wren' OR display_name = 'Wren'").fetchone()[0]
        conn.execute("UPDATE channels SET name = 'wren-fan-club' WHERE id = ?", (GENERAL,))
        conn.commit()
        assert "wren" in channel_place(conn, GENERAL).channel.lower()  # the check below can fail
        opt_out(conn, wren)
        assert "wren" not in channel_place(conn, GENERAL).channel.lower()
