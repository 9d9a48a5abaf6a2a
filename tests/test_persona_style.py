"""``personas style``: the computed profile in words and the line in use, the owner's ``--set`` and ``--reset`` (read
back from SQLite and seen by the bot's persona), ``--json``, and one-line refusals (unknown person, nothing computed
yet, opted out, forgotten), on a real SQLite workspace prepared by the real pipeline."""
from __future__ import annotations

import json

from core.config.app_config import DatasetConfig
from core.consent import actions
from core.dataset.persona_style import FIELD_LABELS, profile_fields
from core.dataset.personas import load_persona
from core.dataset.pipeline import prepare_dataset
from core.dataset.profile import compute_profiles, describe
from storage import personas as store
from tests.conftest import run_cli
from tests.test_persona_profile import ALICE, BOB, CAROL, CONFIG, chatty_history

OWN_LINE = "Style: dry humour, never uses emoji."


def prepared(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra").write(conn)
    prepare_dataset(conn, CONFIG, workspace.root / "out")
    return conn


def style(workspace, *argv):
    code, out, err = run_cli("personas", "style", *argv, "--json", workspace=workspace)
    assert code == 0, err
    return json.loads(out)


def refused(workspace, *argv) -> str:
    code, out, err = run_cli("personas", "style", *argv, workspace=workspace)
    assert code == 1 and not out, (code, out, err)
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one line
    return err


def test_style_shows_the_computed_profile_in_words_and_the_line_the_prompts_get(workspace):
    conn = prepared(workspace)
    shown = style(workspace, "Alice")
    stored = store.styles(conn)[ALICE]
    assert shown["status"] == "ready" and shown["user_id"] == str(ALICE) and shown["name"] == "Alice"
    assert list(shown["fields"]) == list(FIELD_LABELS)  # length, casing, endings, emoji, phrases, topics, tone
    assert shown["fields"]["casing"] == "all lowercase" and shown["fields"]["emoji"] == "🎮"
    assert shown["fields"]["phrases"] == ", ".join(f'"{p}"' for p in stored["profile"]["phrases"])
    assert "ngl" in shown["fields"]["phrases"] and shown["fields"]["tone"] == stored["profile"]["tone"]
    assert shown["summary"].startswith("Typical length: about ") and " · casing: all lowercase · " in shown["summary"]
    assert shown["line"] == shown["computed_line"] == stored["line"] and not shown["is_edited"]
    assert shown["active"] and shown["replies"] == stored["profile"]["replies"] > 0
    code, out, _ = run_cli("personas", "style", str(ALICE), workspace=workspace)
    assert code == 0 and "casing: all lowercase" in out and "emoji: 🎮" in out
    assert f"line in use (computed): {stored['line']}" in out


def test_set_stores_the_owners_line_and_reset_goes_back_to_the_computed_one(workspace):
    conn = prepared(workspace)
    computed = store.styles(conn)[ALICE]["line"]
    shown = style(workspace, "alice", "--set", "  Style: dry humour,\n never uses emoji.  ")
    assert shown["line"] == shown["edited"] == OWN_LINE and shown["is_edited"]
    assert shown["computed_line"] == computed
    assert store.styles(conn)[ALICE]["edited"] == OWN_LINE  # read back from SQLite
    assert load_persona(conn, ALICE).description == OWN_LINE  # the bot's prompt gets it
    code, out, _ = run_cli("personas", "style", "Alice", workspace=workspace)
    assert f"line in use (edited): {OWN_LINE}" in out and f"computed line (--reset to use it): {computed}" in out
    shown = style(workspace, "Alice", "--reset")
    assert shown["line"] == computed and shown["edited"] is None and not shown["is_edited"]
    assert store.styles(conn)[ALICE]["edited"] is None and load_persona(conn, ALICE).description == computed
    style(workspace, "Alice", "--set", computed)  # typing the computed line is no edit: a new prepare updates it
    assert store.styles(conn)[ALICE]["edited"] is None
    assert store.styles(conn)[BOB]["edited"] is None  # nobody else's row moved


def test_unknown_person_nothing_computed_opted_out_and_forgotten_get_one_line(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra").write(conn)
    assert "no user named 'Nobody'" in refused(workspace, "Nobody")
    assert "no user with id 999" in refused(workspace, "999")
    for argv in ((), ("--set", OWN_LINE), ("--reset",)):  # before any prepare
        assert "no style profile for Alice (11) yet: `launcher.py prepare` computes it" in refused(
            workspace, "Alice", *argv)
    assert store.styles(conn) == {}  # --set wrote nothing
    prepare_dataset(conn, CONFIG, workspace.root / "out")
    assert "keep it under 600" in refused(workspace, "Alice", "--set", "x" * 601)
    assert "--set needs a line" in refused(workspace, "Alice", "--set", " ")
    assert run_cli("personas", "style", "Alice", "--set", "x", "--reset", workspace=workspace)[0] == 2
    actions.opt_out(conn, workspace.root, CAROL)
    for argv in ((), ("--set", OWN_LINE)):
        assert "Carol (13) opted out: their style profile is deleted" in refused(workspace, "Carol", *argv)
    assert CAROL not in store.styles(conn)  # the refused --set stored no line about them
    actions.forget(conn, workspace.root, ALICE)
    assert "user 11 was forgotten: their style profile is deleted" in refused(workspace, str(ALICE))


def test_the_fields_say_what_the_line_says():
    texts = {
        1: [f"ngl the raid was wild lol 🎮 {n}" for n in range(20)] + ["Ok same lol"] * 5,  # 80% lowercase
        2: [f"Indeed, a fine point about the tea number {n}." for n in range(25)],
        3: [f"ARRR THE SEA IS CALLING ME HEARTIES {n}!" for n in range(25)],
    }
    profiles = compute_profiles(texts)
    assert 0.7 <= profiles[1].lowercase_share < 0.9
    expected = {1: ("all lowercase", "rarely with punctuation", "rarely ends with punctuation"),
                2: ("proper capitalisation", "with full stops", "ends lines with full stops"),
                3: ("often CAPITALS", "with exclamation marks", "ends lines with exclamation marks")}
    for persona, (casing, ends, in_line) in expected.items():
        fields, line = profile_fields(profiles[persona].as_json()), describe(profiles[persona])
        assert fields["casing"] == casing and fields["endings"] == ends and in_line in line
        assert casing.replace("often CAPITALS", "often writes in CAPITALS") in line
        assert fields["tone"] in line and all(f'"{p}"' in line for p in profiles[persona].phrases)
    assert profile_fields(compute_profiles({9: []})[9].as_json()) == {}


def test_with_the_profile_off_the_style_is_shown_but_said_to_be_unused(workspace):
    from gui.views.personas_style import NOT_ACTIVE, style_texts
    conn = workspace.connect()
    chatty_history(late_phrase="zebra").write(conn)
    prepare_dataset(conn, DatasetConfig(**{**CONFIG.__dict__, "style_profile": False}), workspace.root / "out")
    shown = style(workspace, "Alice")
    assert shown["status"] == "ready" and shown["active"] is False and shown["line"]
    code, out, _ = run_cli("personas", "style", "Alice", workspace=workspace)
    assert code == 0 and "note: prompts get no style line now" in out
    assert style_texts(shown)["profile"].endswith(NOT_ACTIVE) and style_texts(shown)["editable"]
