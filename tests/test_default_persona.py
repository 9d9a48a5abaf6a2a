"""The persona a model answers as when none is chosen (core.training.default_persona), on a real workspace: a dataset
written by ``prepare_dataset``, a run folder built as ``plan_new_run`` builds it (``create_run`` plus
``register_run``; real training would take minutes), and a GGUF file where the export worker or the owner puts one
(the file's content does not matter here: nothing loads it)."""
from __future__ import annotations

import json
from pathlib import Path

from core.config.app_config import DatasetConfig
from core.dataset.personas import load_persona
from core.dataset.pipeline import prepare_dataset
from core.jobs import runs
from core.training.artifacts import register_run
from core.training.default_persona import default_persona
from storage import artifacts
from storage import consent as consent_store, personas as store
from tests.test_dataset_support import History

ALICE, BOB, CAROL, BOT = 21, 22, 23, 29
CONFIG = DatasetConfig(min_messages=1, split_ratios=[1.0, 0.0, 0.0], max_share=1.0, spam_repeat_limit=3)


def seed(workspace) -> None:
    """Bob writes the most, Alice less, Carol least: messages and training examples rank differently below."""
    history = History()
    for user_id, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")):
        history.user(user_id, name)
    history.user(BOT, "Dyno", bot=True)
    general = history.channel(4000, "general")
    for number in range(40):
        history.say(general, BOT, f"bot line {number}")  # bots never count, however chatty
        history.say(general, BOB, f"bob says thing number {number}")
        if number < 30:
            history.say(general, ALICE, f"alice answers with {number}")
        if number < 15:
            history.say(general, CAROL, f"carol adds point {number}")
    history.write(workspace.connect())


def trained_run(workspace, personas: str) -> tuple[Path, dict]:
    """A dataset of ``personas`` written by prepare, and a run trained on it with its exported GGUF."""
    conn = workspace.connect()
    data_dir = (workspace.datasets_dir / "set").resolve()
    stats = prepare_dataset(conn, CONFIG, data_dir, personas=personas)
    run_dir = runs.create_run(workspace.runs_dir, {"kind": "train", "data_dir": str(data_dir),
                                                   "database": str(workspace.database_path)})
    register_run(conn, run_dir, data_dir)
    gguf = run_dir / "export" / "model-q4_k_m.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    return gguf, {int(entry["id"]): entry["train"] for entry in stats["personas"]}


def test_an_exported_model_answers_as_its_datasets_persona_with_the_most_examples(workspace):
    seed(workspace)
    gguf, train = trained_run(workspace, f"{ALICE},{CAROL}")  # Bob has the most messages but is not in it
    conn = workspace.connect()
    chosen = default_persona(conn, workspace, gguf)
    assert train[ALICE] > train[CAROL] > 0 and BOB not in train
    assert (chosen.id, chosen.name, chosen.examples) == (ALICE, "Alice", train[ALICE])
    run_id = gguf.parent.parent.name
    assert chosen.why == f"Alice: the most training examples ({train[ALICE]}) in the dataset of run {run_id}"


def test_an_opted_out_or_forgotten_persona_is_skipped_for_the_next_one_the_model_learned(workspace):
    seed(workspace)
    gguf, train = trained_run(workspace, f"{ALICE},{CAROL}")
    conn = workspace.connect()
    consent_store.set_opted_out(conn, ALICE, True)
    chosen = default_persona(conn, workspace, gguf)
    assert (chosen.id, chosen.examples) == (CAROL, train[CAROL])
    assert chosen.why.endswith("(1 with more opted out or gone)")
    assert "Alice" not in chosen.why
    consent_store.forget_user(conn, CAROL)
    assert default_persona(conn, workspace, gguf) is None  # Bob has messages, but this model never learned him


def test_the_name_is_the_one_prompts_use_edited_and_scrubbed(workspace):
    seed(workspace)
    gguf, _ = trained_run(workspace, f"{ALICE},{CAROL}")
    conn = workspace.connect()
    store.set_profile(conn, ALICE, name="Wren wren.writes@example.org")
    chosen = default_persona(conn, workspace, gguf)
    assert chosen.name == load_persona(conn, ALICE).name == "Wren [EMAIL]"
    assert chosen.why.startswith("Wren [EMAIL]: the most training examples")


def test_a_hand_placed_model_answers_as_the_author_with_the_most_messages(workspace):
    seed(workspace)
    trained_run(workspace, f"{ALICE},{CAROL}")  # a run exists, but the hand-placed file is not its export
    gguf = workspace.models_dir / "downloaded" / "someone-else.Q4_K_M.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    conn = workspace.connect()
    chosen = default_persona(conn, workspace, gguf)
    assert (chosen.id, chosen.name, chosen.examples) == (BOB, "Bob", None)
    assert chosen.why == ("Bob: the most messages (40); someone-else.Q4_K_M.gguf comes from no training run, "
                          "so no training examples to count")
    consent_store.set_opted_out(conn, BOB, True)
    chosen = default_persona(conn, workspace, gguf)
    assert chosen.id == ALICE and chosen.why.startswith("Alice: the most messages (30) (1 with more opted out or gone)")


def test_an_export_written_elsewhere_finds_its_run_through_the_artifact_registry(workspace, tmp_path):
    seed(workspace)
    conn = workspace.connect()
    data_dir = workspace.datasets_dir / "by-hand"  # a stats.json written by hand, in prepare's format
    data_dir.mkdir()
    (data_dir / "stats.json").write_text(json.dumps({"format": 1, "personas": [
        {"id": str(ALICE), "name": "Alice", "train": 12}, {"id": str(CAROL), "name": "Old Carol", "train": 40},
        {"id": str(BOB), "name": "Bob", "train": 0}]}), encoding="utf-8")
    run_dir = runs.create_run(workspace.runs_dir, {"kind": "train", "data_dir": str(data_dir)})
    register_run(conn, run_dir, data_dir)
    out = tmp_path / "elsewhere"
    artifacts.register_derived(conn, "export", out, run_dir)  # what `export --out DIR` registers
    out.mkdir()
    (out / "model-q8_0.gguf").write_bytes(b"GGUF")
    chosen = default_persona(conn, workspace, out / "model-q8_0.gguf")
    assert (chosen.id, chosen.name, chosen.examples) == (CAROL, "Carol", 40)
    consent_store.set_opted_out(conn, CAROL, True)
    assert default_persona(conn, workspace, out / "model-q8_0.gguf").id == ALICE
    consent_store.set_opted_out(conn, ALICE, True)
    assert default_persona(conn, workspace, out / "model-q8_0.gguf") is None  # Bob had no training example


def test_a_run_whose_dataset_stats_are_gone_falls_back_to_messages_and_says_so(workspace):
    seed(workspace)
    gguf, _ = trained_run(workspace, f"{ALICE},{CAROL}")
    (workspace.datasets_dir / "set" / "stats.json").unlink()
    chosen = default_persona(workspace.connect(), workspace, gguf)
    assert chosen.id == BOB and chosen.examples is None
    assert f"the dataset of run {gguf.parent.parent.name} has no readable stats.json" in chosen.why
