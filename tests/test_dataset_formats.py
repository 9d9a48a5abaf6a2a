"""prepare --format / dataset-format: the sample server's dataset in LLaMA-Factory's, Axolotl's and OpenAI's formats,
the same examples message for message; the people-leaving count and its confirmation; consent over the new files.
The targets' own loaders read these files in tests/test_dataset_formats_targets.py (slow)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.config.app_config import DatasetConfig
from core.config.training import TrainingConfig
from core.dataset import DatasetError
from core.dataset.formats import ExportOptions, export_format, openai as openai_format
from core.dataset.leaving import confirmation_text, people_leaving
from core.dataset.pipeline import prepare_dataset
from tests.conftest import ROOT, run_cli
from tests.test_dataset_support import History, read_jsonl

SAMPLE_EXPORT = ROOT / "assets" / "sample_server" / "export"
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample server prepared once, with every format written: (dataset folder, stats)."""
    from core.config.workspace import Workspace
    from core.ingest.importer import import_paths
    folder = tmp_path_factory.mktemp("formats")
    workspace = Workspace.open(folder / "ws")
    conn = workspace.connect()
    import_paths(conn, [SAMPLE_EXPORT])
    out = folder / "data"
    stats = prepare_dataset(conn, DatasetConfig(), out)
    for name in ("llamafactory", "axolotl", "openai"):
        export_format(conn, out, name, ExportOptions(people=stats["people"]["total"]))
    conn.close()
    return out, stats


def ours(folder: Path, name: str) -> list[dict]:
    return read_jsonl(folder / f"{name}.jsonl")


def roles_and_text(messages: list[dict]) -> list[tuple[str, str]]:
    return [(message["role"], message["content"]) for message in messages]


def test_llamafactory_carries_every_split_and_pair_message_for_message(sample):
    out, stats = sample
    folder = out / "llamafactory"
    for split in SPLITS:
        rows, mine = read_jsonl(folder / f"{split}.jsonl"), ours(out, split)
        assert len(rows) == len(mine) == stats["examples"][split] > 0
        assert [row["messages"] for row in rows] == [roles_and_text_dicts(row["messages"]) for row in mine]
        assert all(set(row) == {"messages"} for row in rows)          # our meta (ids) stays home
    pairs, mine = read_jsonl(folder / "dpo.jsonl"), ours(out, "dpo")
    assert len(pairs) == len(mine) == stats["dpo"]["pairs"] > 0
    for pair, own in zip(pairs, mine):
        assert pair == {"messages": own["prompt"], "chosen": own["chosen"][0], "rejected": own["rejected"][0]}
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"persona_train", "persona_val", "persona_test", "persona_dpo"}
    assert info["persona_train"] == {"file_name": "train.jsonl", "formatting": "sharegpt",
                                     "columns": {"messages": "messages"},
                                     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                              "assistant_tag": "assistant", "system_tag": "system"}}
    assert info["persona_dpo"]["ranking"] is True
    assert info["persona_dpo"]["columns"] == {"messages": "messages", "chosen": "chosen", "rejected": "rejected"}
    assert all((folder / entry["file_name"]).is_file() for entry in info.values())


def roles_and_text_dicts(messages: list[dict]) -> list[dict]:
    return [{"role": role, "content": text} for role, text in roles_and_text(messages)]


def test_axolotl_rows_train_only_the_final_reply_and_its_configs_carry_our_hyperparameters(sample):
    out, stats = sample
    folder = out / "axolotl"
    for split in SPLITS:
        rows, mine = read_jsonl(folder / f"{split}.jsonl"), ours(out, split)
        assert len(rows) == len(mine) == stats["examples"][split]
        for row, own in zip(rows, mine):
            assert roles_and_text(row["messages"]) == roles_and_text(own["messages"])
            assert [message["training"] for message in row["messages"]] == \
                [False] * (len(own["messages"]) - 1) + [True]
    pairs, mine = read_jsonl(folder / "dpo.jsonl"), ours(out, "dpo")
    assert [pair["chosen"] for pair in pairs] == [own["chosen"][0] for own in mine]
    assert [pair["messages"] for pair in pairs] == [own["prompt"] for own in mine]
    defaults = TrainingConfig()
    sft = yaml.safe_load((folder / "sft.yml").read_text(encoding="utf-8"))
    assert {key: sft[key] for key in ("adapter", "load_in_4bit", "lora_r", "lora_alpha", "lora_dropout",
                                      "lora_target_modules", "sequence_len", "micro_batch_size",
                                      "gradient_accumulation_steps", "num_epochs", "learning_rate", "lr_scheduler",
                                      "warmup_ratio", "sample_packing", "train_on_inputs")} == {
        "adapter": "qlora", "load_in_4bit": True, "lora_r": defaults.lora_r, "lora_alpha": defaults.lora_alpha,
        "lora_dropout": defaults.lora_dropout, "lora_target_modules": defaults.lora_target_modules,
        "sequence_len": defaults.max_length, "micro_batch_size": defaults.per_device_batch_size,
        "gradient_accumulation_steps": defaults.gradient_accumulation_steps, "num_epochs": defaults.num_epochs,
        "learning_rate": defaults.learning_rate, "lr_scheduler": "cosine", "warmup_ratio": defaults.warmup_steps,
        "sample_packing": True, "train_on_inputs": False}
    assert sft["datasets"] == [{"path": "train.jsonl", "ds_type": "json", "split": "train", "type": "chat_template",
                                "field_messages": "messages", "message_field_training": "training",
                                "roles_to_train": ["assistant"]}]
    assert sft["test_datasets"][0]["path"] == "val.jsonl"
    dpo = yaml.safe_load((folder / "dpo.yml").read_text(encoding="utf-8"))
    assert dpo["rl"] == "dpo" and dpo["rl_beta"] == defaults.dpo_beta
    assert dpo["learning_rate"] == defaults.dpo_learning_rate and dpo["lora_model_dir"] == sft["output_dir"]
    assert dpo["datasets"][0]["type"] == "chat_template.default"


def test_axolotl_config_follows_the_training_config(tmp_path):
    from core.dataset.formats.axolotl import dpo_config, sft_config
    config = TrainingConfig(load_in_4bit=False, lora_r=8, max_length=512, warmup_steps=10, max_steps=50,
                            optimizer="adamw_torch", dpo_max_steps=7)
    sft = sft_config(config, "org/model")
    assert (sft["adapter"], sft["load_in_4bit"], sft["lora_r"], sft["sequence_len"]) == ("lora", False, 8, 512)
    assert sft["warmup_steps"] == 10 and "warmup_ratio" not in sft and sft["max_steps"] == 50
    assert sft["optimizer"] == "adamw_torch" and sft["base_model"] == "org/model"
    assert dpo_config(config, "org/model")["max_steps"] == 7


def test_openai_files_hold_the_same_messages_and_the_preference_format(sample):
    out, stats = sample
    folder = out / "openai"
    assert sorted(path.name for path in folder.iterdir()) == ["dpo.jsonl", "report.json", "train.jsonl",
                                                              "val.jsonl"]  # the test split stays home
    for split in ("train", "val"):
        rows, mine = read_jsonl(folder / f"{split}.jsonl"), ours(out, split)
        assert len(rows) == len(mine) == stats["examples"][split]
        assert [row for row in rows] == [{"messages": roles_and_text_dicts(own["messages"])} for own in mine]
    pairs, mine = read_jsonl(folder / "dpo.jsonl"), ours(out, "dpo")
    assert len(pairs) == stats["dpo"]["pairs"]
    for pair, own in zip(pairs, mine):
        assert pair == {"input": {"messages": own["prompt"]}, "preferred_output": own["chosen"],
                        "non_preferred_output": own["rejected"]}
        assert pair["input"]["messages"][-1]["role"] == "user"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["problems"] == 0 and report["people"] == stats["people"]["total"]
    assert report["files"]["train.jsonl"]["examples"] == stats["examples"]["train"]
    assert report["files"]["train.jsonl"]["tokens"] > report["files"]["train.jsonl"]["longest"] > 0


def test_openai_tokens_are_counted_as_openai_counts_them():
    """o200k_base through toktok, as OpenAI's cookbook counts an example: 3 per message + role + content, + 3."""
    from core.dataset.formats import tokens
    method, count = tokens.counter()
    assert method.startswith("o200k_base"), method  # toktok-rs is a requirement: no estimate here
    messages = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "hi"}]
    texts = ["user", "hello world", "assistant", "hi"]
    assert tokens.example_tokens(messages, count) == sum(count(texts)) + 3 * 2 + 3
    assert count(["hello world"]) == [2]


def test_openai_report_names_each_line_over_a_limit(workspace, monkeypatch):
    history = History()
    history.user(1, "Alice")
    history.user(2, "Bob")
    general = history.channel(3000, "general")
    for number in range(4):
        history.say(general, 2, f"question number {number} " + "word " * (40 if number == 2 else 1))
        history.say(general, 1, f"answer number {number}")
    conn = workspace.connect()
    history.write(conn)
    out = workspace.root / "out"
    prepare_dataset(conn, DatasetConfig(min_messages=1, split_ratios=[1.0, 0.0, 0.0], max_share=1.0,
                                        style_profile=False), out, personas="1")
    monkeypatch.setattr(openai_format, "MAX_EXAMPLE_TOKENS", 60)
    result = export_format(conn, out, "openai", ExportOptions(people=2))
    problems = result["folders"][0]["problem_lines"]
    long_lines = [line for line in problems if "tokens, over the 60" in line]
    assert long_lines and all(line.startswith("train.jsonl line ") for line in long_lines)
    assert any(line.startswith("train.jsonl: ") and "at least 10" in line for line in problems)
    report = json.loads((out / "openai" / "report.json").read_text(encoding="utf-8"))
    assert report["problems"] == len(problems) == len(long_lines) + 1


def test_people_leaving_counts_personas_context_speakers_and_rejected_authors(workspace):
    history = History()
    for user_id, name in ((11, "Alice"), (12, "Bob"), (13, "Carol"), (14, "Eve")):
        history.user(user_id, name)
    general = history.channel(3000, "general")
    question = history.say(general, 12, "what should we eat tonight?")
    history.say(general, 11, "pizza obviously", reply_to=question, reactions=3)
    history.say(general, 13, "salad i guess", reply_to=question)   # Carol: only the rejected reply of a pair
    history.say(general, 14, "unrelated chatter", after=5 * 3600)  # Eve: in no written line
    conn = workspace.connect()
    history.write(conn)
    out = workspace.root / "out"
    stats = prepare_dataset(conn, DatasetConfig(min_messages=1, split_ratios=[1.0, 0.0, 0.0], max_share=1.0,
                                                style_profile=False), out, personas="11")
    assert stats["dpo"]["pairs"] == 1
    assert stats["people"] == {"total": 3, "personas": 1, "others": 2}   # Alice, Bob in her context, Carol
    assert people_leaving(out) == 3
    export_format(conn, out, "openai", ExportOptions(people=3))
    assert people_leaving(out / "openai") == 3                           # a format folder reads the dataset's


def test_confirmation_names_the_count_and_an_old_dataset_says_unknown(tmp_path):
    assert "the messages of 12 people" in confirmation_text(12)
    assert "the messages of 1 person" in confirmation_text(1)
    assert "unknown number" in confirmation_text(None)
    (tmp_path / "stats.json").write_text('{"format": 1}', encoding="utf-8")
    assert people_leaving(tmp_path) is None


@pytest.mark.slow  # imports and prepares the sample server several times through the CLI
def test_prepare_format_openai_asks_first_and_writes_only_after_yes(workspace, monkeypatch):
    import sys
    run_cli("import", str(SAMPLE_EXPORT), workspace=workspace)
    out = workspace.root / "asked"
    code, _, err = run_cli("prepare", "--out", str(out), "--format", "openai", workspace=workspace)
    assert code == 2 and "--yes-upload" in err and not out.exists()   # no terminal, no flag: refused before building
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    asked = []
    monkeypatch.setattr("builtins.input", lambda text: asked.append(text) or "n")
    code, _, err = run_cli("prepare", "--out", str(out), "--format", "openai", workspace=workspace)
    people = json.loads((out / "stats.json").read_text(encoding="utf-8"))["people"]["total"]
    assert code == 1 and f"the messages of {people} people" in asked[0] and not (out / "openai").exists()
    monkeypatch.setattr("builtins.input", lambda text: "y")
    code, stdout, err = run_cli("dataset-format", "openai", "--data", str(out), "--json", workspace=workspace)
    assert code == 0, err
    assert json.loads(stdout)["people"] == people and (out / "openai" / "train.jsonl").is_file()
    code, stdout, _ = run_cli("prepare", "--out", str(out), "--format", "axolotl", "--json", workspace=workspace)
    assert code == 0 and json.loads(stdout)["format"]["folders"][0]["path"] == str(out / "axolotl")


def test_a_new_prepare_into_the_same_folder_removes_the_old_exports(workspace):
    run_cli("import", str(SAMPLE_EXPORT), workspace=workspace)
    out = workspace.root / "again"
    assert run_cli("prepare", "--out", str(out), "--format", "axolotl", workspace=workspace)[0] == 0
    assert (out / "axolotl" / "train.jsonl").is_file()
    assert run_cli("prepare", "--out", str(out), "--seed", "5", workspace=workspace)[0] == 0
    assert not (out / "axolotl").exists()   # its examples were the old build's


def test_per_persona_datasets_get_the_format_in_each_persona_folder(workspace):
    run_cli("import", str(SAMPLE_EXPORT), workspace=workspace)
    out = workspace.root / "per"
    code, stdout, err = run_cli("prepare", "--out", str(out), "--strategy", "per-persona", "--personas", "top:2",
                                "--format", "llamafactory", "--json", workspace=workspace)
    assert code == 0, err
    folders = sorted((out / "personas").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert len(read_jsonl(folder / "llamafactory" / "train.jsonl")) == len(read_jsonl(folder / "train.jsonl"))


def test_an_opt_out_during_the_export_leaves_nothing_and_a_stale_dataset_is_refused(workspace, monkeypatch):
    from core.consent.actions import opt_out
    from core.dataset.formats import llamafactory
    run_cli("import", str(SAMPLE_EXPORT), workspace=workspace)
    out = workspace.root / "race"
    assert run_cli("prepare", "--out", str(out), workspace=workspace)[0] == 0
    conn = workspace.connect()
    persona = int(json.loads((out / "stats.json").read_text(encoding="utf-8"))["personas"][0]["id"])
    real_write = llamafactory.write

    def write_then_opt_out(set_dir, temp, options):
        summary = real_write(set_dir, temp, options)
        opt_out(conn, workspace.root, persona)
        return summary
    monkeypatch.setattr(llamafactory, "write", write_then_opt_out)
    with pytest.raises(DatasetError, match="opted out"):
        export_format(conn, out, "llamafactory", ExportOptions())
    assert not (out / "llamafactory").exists() and not list(out.glob(".staging-*"))
    monkeypatch.setattr(llamafactory, "write", real_write)
    with pytest.raises(DatasetError, match="stale"):
        export_format(conn, out, "llamafactory", ExportOptions())


@pytest.mark.slow  # imports and prepares the sample server several times through the CLI
def test_forget_leaves_none_of_their_text_in_the_format_files(workspace, tmp_path):
    """The dataset is written outside the workspace, where only its registration as an artifact leads forget to it
    (the workspace-wide text search does not look there)."""
    from core.consent.text_scan import TextFinder
    run_cli("import", str(SAMPLE_EXPORT), workspace=workspace)
    out = tmp_path / "elsewhere" / "forget"
    code, _, err = run_cli("prepare", "--out", str(out), "--format", "axolotl", workspace=workspace)
    assert code == 0, err
    assert run_cli("dataset-format", "llamafactory", "--data", str(out), workspace=workspace)[0] == 0
    assert run_cli("dataset-format", "openai", "--yes-upload", "--data", str(out), workspace=workspace)[0] == 0
    conn = workspace.connect()
    persona = json.loads((out / "stats.json").read_text(encoding="utf-8"))["personas"][0]["id"]
    texts = [row[0] for row in conn.execute("SELECT content FROM messages WHERE author_id = ?", (int(persona),))]
    finder = TextFinder(texts)
    format_files = [path for name in ("llamafactory", "axolotl", "openai") for path in (out / name).rglob("*")
                    if path.is_file()]
    assert finder and sum(finder.found_in(path) for path in format_files) >= 3   # their text is in each format
    conn.close()
    code, _, err = run_cli("personas", "forget", persona, "--yes", workspace=workspace)
    assert code == 0, err
    left = [path for path in out.parent.rglob("*") if path.is_file() and finder.found_in(path)]
    assert left == []
    assert not any((out / name).exists() and any((out / name).rglob("*.jsonl")) for name in
                   ("llamafactory", "axolotl", "openai"))
