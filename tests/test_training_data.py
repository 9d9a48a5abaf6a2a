"""Training data as the trainer sees it: loss only on the target reply, contexts trimmed by whole oldest pairs (never
leaving an assistant message first), bad lines and bad role orders named.

Uses the real SmolLM2 tokenizer (chat template included) and the real SFTTrainer data pipeline with our arguments,
on a tiny random model of the same vocabulary (the weights do not matter for labels).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # loads the tokenizer from the GGUF file and the ML stack

SYSTEM = {"role": "system", "content": "You are bob, chatting in #general of Test Server."}


@pytest.fixture(scope="module")
def tokenizer():
    from core.config.resources import ResourceMissing, default_base_model
    from transformers import AutoTokenizer
    try:
        base = default_base_model()
    except ResourceMissing as exc:
        pytest.skip(str(exc))
    return AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)


def example(i: int, context_pairs: int = 1) -> dict:
    """system, (user, assistant) * context_pairs, user, target: the prompt builder's shape."""
    turns = []
    for k in range(context_pairs):
        turns += [{"role": "user", "content": f"alice: message {i}-{k} about games"},
                  {"role": "assistant", "content": f"sure {i}-{k}"}]
    turns.append({"role": "user", "content": f"alice: and then {i}?"})
    return {"messages": [SYSTEM, *turns, {"role": "assistant", "content": f"lol ok {i} 🎉"}], "meta": {}}


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def tiny_trainer(tokenizer, data_dir: Path, packing: bool, tmp_path: Path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTTrainer
    from core.config.training import build_training_config
    from model.training_data import load_training_data
    from model.training_model import LoadedModel
    from model.training_run import sft_args
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tokenizer)))
    config = build_training_config("cpu-tiny", flags={"packing": packing, "max_length": 128})
    train, _, stats = load_training_data(data_dir, tokenizer, config.max_length, 10)
    loaded = LoadedModel(model, tokenizer, "peft", "cpu", "fp32", "", None)
    trainer = SFTTrainer(model=model, args=sft_args(config, loaded, tmp_path, False), train_dataset=train,
                         processing_class=tokenizer)
    return trainer, stats


@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
def test_labels_are_ignored_everywhere_but_the_target(tokenizer, tmp_path, packing):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", [example(i) for i in range(6)])
    trainer, _ = tiny_trainer(tokenizer, data, packing, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))][:2])
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        trained = [token for token, label in zip(ids, labels) if label != -100]
        assert all(label in (-100, token) for token, label in zip(ids, labels))
        text = tokenizer.decode(trained)
        targets = text.split("<|im_end|>")
        assert all(part.strip().startswith("lol ok") for part in targets[:-1]), text
        assert "alice" not in text and "You are bob" not in text and "<|im_start|>" not in text
        assert text.count("<|im_end|>") >= 1  # the end-of-turn token is trained, so the model learns to stop
    if packing:
        assert "position_ids" in batch and batch["input_ids"].shape[0] == 1


def test_long_contexts_lose_their_oldest_pairs_first(tokenizer):
    from model.training_data import fit, token_count
    messages = example(1, context_pairs=20)["messages"]
    assert token_count(tokenizer, messages) > 200
    fitted, trimmed = fit(tokenizer, messages, 200)
    assert trimmed and token_count(tokenizer, fitted) <= 200
    assert fitted[0] == SYSTEM and fitted[-1] == messages[-1]
    assert fitted[1:-1] == messages[len(messages) - len(fitted) + 1:-1]  # the newest context turns are kept
    assert fitted[1]["role"] == "user"
    for max_length in range(40, 420, 20):  # whatever the cut, the context starts with user and alternates
        fitted, _ = fit(tokenizer, messages, max_length)
        if fitted is not None:
            assert [m["role"] for m in fitted[1:]] == ["user", "assistant"] * ((len(fitted) - 1) // 2)
    too_short, _ = fit(tokenizer, messages, 20)
    assert too_short is None
    shortest = [SYSTEM, *messages[-2:]]  # system, the last user message and the target: never cut further
    assert fit(tokenizer, shortest, token_count(tokenizer, shortest) - 1)[0] is None


def test_bad_dataset_lines_are_named(tokenizer, tmp_path):
    from model.training_data import load_training_data
    from model.training_model import WorkerError
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", [example(0)])
    with (data / "train.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(WorkerError, match="train.jsonl line 2: not valid JSON"):
        load_training_data(data, tokenizer, 256, 10)
    bad = example(0)
    bad["messages"] = bad["messages"][:-1]
    write_jsonl(data / "train.jsonl", [example(0), bad])
    with pytest.raises(WorkerError, match="line 2: the last message must be the assistant's reply"):
        load_training_data(data, tokenizer, 256, 10)
    assistant_first = example(0)
    assistant_first["messages"] = [SYSTEM, *assistant_first["messages"][2:]]
    write_jsonl(data / "train.jsonl", [assistant_first])
    with pytest.raises(WorkerError, match="line 1: after the system message, roles must alternate user/assistant"):
        load_training_data(data, tokenizer, 256, 10)
    write_jsonl(data / "train.jsonl", [])
    with pytest.raises(WorkerError, match="no usable training examples"):
        load_training_data(data, tokenizer, 256, 10)


def test_role_order_is_checked_and_consecutive_user_lines_are_joined(tokenizer, tmp_path):
    from model.training_data import check_messages, load_preferences
    from model.training_model import WorkerError
    joined = check_messages([SYSTEM, {"role": "user", "content": "a: 1"}, {"role": "user", "content": "b: 2"},
                             {"role": "assistant", "content": "ok"}], "x")
    assert joined[1] == {"role": "user", "content": "a: 1\nb: 2"} and len(joined) == 3
    twice = [SYSTEM, {"role": "user", "content": "a: 1"}, {"role": "assistant", "content": "hm"},
             {"role": "assistant", "content": "ok"}]
    with pytest.raises(WorkerError, match="x: after the system message.*message 4 is assistant"):
        check_messages(twice, "x")
    data = tmp_path / "data"
    data.mkdir()
    prompt = example(0)["messages"][:-1]
    good = {"prompt": prompt, "chosen": [{"role": "assistant", "content": "yes"}],
            "rejected": [{"role": "assistant", "content": "no"}]}
    write_jsonl(data / "dpo.jsonl", [good])
    rows = load_preferences(data, tokenizer, 256)
    assert rows[0]["prompt"][-1]["role"] == "user" and rows[0]["chosen"] == [{"role": "assistant", "content": "yes"}]
    write_jsonl(data / "dpo.jsonl", [good, {**good, "prompt": prompt + [{"role": "assistant", "content": "me"}]}])
    with pytest.raises(WorkerError, match="dpo.jsonl line 2: after the system message, roles must alternate"):
        load_preferences(data, tokenizer, 256)


def test_the_prepared_sample_server_loads_with_the_real_chat_template(tokenizer, tmp_path):
    """Every sample-server example passes the role-order check and keeps its shape after trimming to a short (160: the system message with its style line is 80-105 tokens)
    max_length with SmolLM2's own template (the strict Mistral/Gemma rendering is in tests/test_prompt_shape.py)."""
    from core.config.app_config import DatasetConfig
    from core.config.workspace import Workspace
    from core.dataset.pipeline import prepare_dataset
    from core.ingest.importer import import_paths
    from model.training_data import load_preferences, load_training_data
    workspace = Workspace.open(tmp_path / "ws")
    conn = workspace.connect()
    import_paths(conn, [Path(__file__).resolve().parents[1] / "assets" / "sample_server" / "export"])
    prepare_dataset(conn, DatasetConfig(), tmp_path / "data")
    train, val, stats = load_training_data(tmp_path / "data", tokenizer, 160, 1000)
    assert stats["train"]["trimmed"] > 0 and stats["train"]["kept"] > 300
    for row in [*train, *val]:
        roles = [message["role"] for message in row["prompt"] + row["completion"]]
        assert roles == ["system"] + ["user", "assistant"] * ((len(roles) - 1) // 2), roles
    preferences = load_preferences(tmp_path / "data", tokenizer, 160)
    assert preferences is not None and all(row["prompt"][-1]["role"] == "user" for row in preferences)
