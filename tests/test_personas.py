"""Persona commands, opt-out and forget: names and ids resolve, and after an opt-out or a forget the user's text is
absent from every output file, older datasets are marked stale, and forget really deletes."""
from __future__ import annotations

import json

import pytest

from storage import personas as store
from tests.conftest import run_cli
from tests.test_dataset_support import History, output_text

ANN, BEN, CID, DEE, ZED = 301, 302, 303, 304, 305
DEE_SECRET = "dee-only-words-quokka"


def seed_history(workspace) -> None:
    history = History()
    for user_id, name in ((ANN, "Ann"), (BEN, "Ben"), (CID, "Cid"), (DEE, "Dee Dee"), (ZED, "Zed")):
        history.user(user_id, name)
    history.user(399, "Ben", display_name="Ben")  # a second "Ben": names can be ambiguous
    general = history.channel(8000, "general")
    for number in range(12):
        opener = history.say(general, BEN, f"topic {number}, thoughts?", after=4000)
        history.say(general, DEE, f"{DEE_SECRET} {number}", reply_to=opener, reactions=2)
        history.say(general, ANN, f"agree with <@{DEE}> on {number}", mentions=(DEE,))
        history.say(general, CID, f"Dee Dee is right about {number}")
        history.say(general, DEE, f"thanks all, {DEE_SECRET}")
        history.say(general, ANN, f"ok then {number}", reply_to=opener)
    history.say(general, ZED, "just one line")
    history.write(workspace.connect())


def cli(workspace, *argv):
    code, out, err = run_cli(*argv, "--json", workspace=workspace)
    assert code == 0, err
    return json.loads(out)


def test_list_rename_describe_by_id_or_name(workspace):
    seed_history(workspace)
    listed = cli(workspace, "personas", "list", "--min-messages", "12")
    assert [(p["id"], p["messages"]) for p in listed["personas"]] == [
        (str(ANN), 24), (str(DEE), 24), (str(BEN), 12), (str(CID), 12)]
    renamed = cli(workspace, "personas", "rename", "Dee Dee", "Deedee")
    assert renamed["name"] == "Deedee" and renamed["id"] == str(DEE)
    described = cli(workspace, "personas", "describe", "deedee", "Dry humour, short replies.")
    assert described["description"] == "Dry humour, short replies."
    code, _, err = run_cli("personas", "rename", "Ben", "Benny", workspace=workspace)
    assert code == 1 and "ambiguous" in err and str(BEN) in err
    code, _, err = run_cli("personas", "rename", "Nobody", "X", workspace=workspace)
    assert code == 1 and "no user named 'Nobody'" in err
    cli(workspace, "personas", "describe", str(DEE), "")
    assert cli(workspace, "personas", "list", "--min-messages", "12")["personas"][1]["description"] is None
    summary = cli(workspace, "prepare", "--out", str(workspace.root / "set"), "--min-messages", "12")
    assert "Deedee" in {p["name"] for p in summary["personas"]}
    assert 'You are Deedee, chatting in a channel named "general"' in output_text(workspace.root / "set")


def test_opt_out_removes_the_user_from_every_output_and_marks_old_sets_stale(workspace):
    seed_history(workspace)
    old = workspace.root / "before"
    cli(workspace, "prepare", "--out", str(old), "--min-messages", "5")
    assert DEE_SECRET in output_text(old)
    result = cli(workspace, "personas", "optout", "Dee Dee")
    assert result["opted_out"] is True and str(old.resolve()) in result["stale_artifacts"]
    assert (old / "STALE").is_file()
    assert store.artifact_stale_reason(workspace.connect(), old) is not None
    preview = cli(workspace, "preview", "--data", str(old))
    assert preview["stale"] and "opted out" in preview["stale"]
    listed = {p["id"]: p for p in cli(workspace, "personas", "list", "--min-messages", "5")["personas"]}
    assert listed[str(DEE)]["opted_out"] is True
    for strategy in ("multi", "per-persona"):
        after = workspace.root / f"after-{strategy}"
        summary = cli(workspace, "prepare", "--out", str(after), "--min-messages", "5", "--strategy", strategy)
        everything = output_text(after)
        assert DEE_SECRET not in everything and "Dee Dee" not in everything and "Deedee" not in everything
        assert str(DEE) not in {p["id"] for p in summary["personas"]}
        assert "@someone" in everything and "someone is right about" in everything
        assert not (after / "STALE").exists()
    code, _, err = run_cli("prepare", "--personas", str(DEE), "--min-messages", "1", workspace=workspace)
    assert code == 1 and "opted out" in err
    cli(workspace, "personas", "optin", str(DEE))
    cli(workspace, "prepare", "--out", str(workspace.root / "again"), "--min-messages", "5")
    assert DEE_SECRET in output_text(workspace.root / "again")


def test_opt_out_of_a_user_not_imported_yet_applies_on_import(workspace):
    result = cli(workspace, "personas", "optout", str(DEE))  # nothing stored yet: an id is enough
    assert result["user_id"] == str(DEE)
    seed_history(workspace)
    cli(workspace, "prepare", "--out", str(workspace.root / "set"), "--min-messages", "5")
    assert DEE_SECRET not in output_text(workspace.root / "set")


def test_forget_deletes_messages_and_reactions_for_good(workspace):
    seed_history(workspace)
    old = workspace.root / "before"
    cli(workspace, "prepare", "--out", str(old), "--min-messages", "5")
    conn = workspace.connect()
    assert conn.execute("SELECT COUNT(*) FROM reactions r JOIN messages m ON m.id = r.message_id "
                        "WHERE m.author_id = ?", (DEE,)).fetchone()[0] == 12
    code, _, err = run_cli("personas", "forget", str(DEE), workspace=workspace)  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (DEE,)).fetchone()[0] == 24
    result = cli(workspace, "personas", "forget", "Dee Dee", "--yes")
    assert result["messages_deleted"] == 24 and result["reactions_deleted"] == 12
    assert (old / "STALE").is_file() and str(old.resolve()) in result["stale_artifacts"]
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (DEE,)).fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM reactions").fetchone()[0] == 0  # only Dee's messages had any
    assert conn.execute("SELECT COUNT(*) FROM users WHERE id = ?", (DEE,)).fetchone()[0] == 0
    conn.close()
    database = workspace.database_path.read_bytes()
    wal = workspace.database_path.with_name(workspace.database_path.name + "-wal")
    assert DEE_SECRET.encode() not in database + (wal.read_bytes() if wal.exists() else b"")
    after = workspace.root / "after"
    cli(workspace, "prepare", "--out", str(after), "--min-messages", "5")
    everything = output_text(after)
    assert DEE_SECRET not in everything and "Dee Dee" not in everything  # name hidden in others' text too
    assert "someone is right about" in everything
    # a re-import of the same history stores none of their messages again: the write consults consent
    seed_history(workspace)
    conn = workspace.connect()
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE author_id = ?", (DEE,)).fetchone()[0] == 0
    conn.close()
    cli(workspace, "prepare", "--out", str(after), "--min-messages", "5")
    assert DEE_SECRET not in output_text(after)


def test_an_opted_out_or_forgotten_person_is_never_a_persona_for_the_bot_or_the_playground(workspace):
    from core.dataset import DatasetError
    from core.dataset.personas import load_persona
    seed_history(workspace)
    conn = workspace.connect()
    assert load_persona(conn, "Dee Dee").id == DEE
    cli(workspace, "personas", "optout", str(DEE))
    for reference in (str(DEE), "Dee Dee"):
        with pytest.raises(DatasetError, match="opted out and cannot be a persona"):
            load_persona(conn, reference)
    cli(workspace, "personas", "forget", str(DEE), "--yes")
    with pytest.raises(DatasetError, match="opted out and cannot be a persona"):
        load_persona(conn, DEE)  # their user row is gone; consent still names them
    conn.close()
