"""prepare on small hand-made histories: threading, filters, opt-out cuts, DPO pairs, splits, strategies, balance,
and the atomic, complete-or-absent output folder."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

import pytest

from core.config.app_config import DatasetConfig
from core.dataset import DatasetError
from core.dataset import pipeline as pipeline_module
from core.dataset.pipeline import prepare_dataset
from storage import consent as consent_store
from tests.conftest import run_cli
from tests.test_dataset_support import OUTPUT_FILES, History, read_jsonl

ALICE, BOB, CAROL, EVE, BOT = 11, 12, 13, 14, 19
CONFIG = DatasetConfig(min_messages=1, split_ratios=[1.0, 0.0, 0.0], max_share=1.0, style_profile=False,
                       spam_repeat_limit=3)


def people(history: History) -> int:
    for user_id, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol"), (EVE, "Eve")):
        history.user(user_id, name)
    history.user(BOT, "Dyno", bot=True)
    return history.channel(3000, "general")


def prepared(workspace, history: History, config=CONFIG, **options) -> tuple[dict, list[dict]]:
    conn = workspace.connect()
    history.write(conn)
    stats = prepare_dataset(conn, config, workspace.root / "out", **options)
    train = workspace.root / "out" / "train.jsonl"
    return stats, read_jsonl(train) if train.exists() else []


def context_text(example: dict) -> str:
    return "\n".join(message["content"] for message in example["messages"][1:-1])


def by_target(examples: list[dict]) -> dict[str, dict]:
    return {example["messages"][-1]["content"]: example for example in examples}


def test_threading_gaps_replies_and_merged_turns(workspace):
    history = History()
    general = people(history)
    history.say(general, BOB, "first topic")
    history.say(general, ALICE, "sure")
    asked = history.say(general, BOB, "question before lunch")
    history.say(general, ALICE, "answering the old question", reply_to=asked, after=3 * 3600)  # links across
    history.say(general, ALICE, "and one more thing", after=30)                # merged into the same turn
    history.say(general, BOB, "late", after=2 * 3600)                          # gap, no reply: new conversation
    history.say(general, ALICE, "hi late bob")
    history.say(general, CAROL, "new topic", after=3 * 3600)                   # gap: a new conversation...
    history.say(general, ALICE, "back to lunch", reply_to=asked)               # ...an old reply does not reopen
    stats, examples = prepared(workspace, history, personas=str(ALICE))
    found = by_target(examples)
    assert set(found) == {"sure", "answering the old question\nand one more thing", "hi late bob", "back to lunch"}
    assert found["sure"]["messages"][1:-1] == [{"role": "user", "content": "Bob: first topic"}]
    assert found["answering the old question\nand one more thing"]["messages"][1:-1] == [
        {"role": "user", "content": "Bob: first topic"}, {"role": "assistant", "content": "sure"},
        {"role": "user", "content": "Bob: question before lunch"}]
    assert found["hi late bob"]["messages"][1:-1] == [{"role": "user", "content": "Bob: late"}]
    assert found["back to lunch"]["messages"][1:-1] == [{"role": "user", "content": "Carol: new topic"}]
    assert len({example["meta"]["conversation_id"] for example in examples}) == 3
    first = found["answering the old question\nand one more thing"]["meta"]
    assert first["conversation_id"] == f"{general}-{found['sure']['meta']['conversation_id'].split('-')[1]}"
    assert stats["filtered"]["no_context"] == 0
    for example in examples:
        assert set(example["meta"]) == {"persona_id", "conversation_id", "message_id", "channel_id", "timestamp"}
        assert all(isinstance(value, str) for value in example["meta"].values())


def test_filters_are_counted_by_reason(workspace):
    history = History()
    general = people(history)
    history.say(general, BOB, "hello there friends")
    history.say(general, BOT, "level up!")
    history.say(general, BOB, "", kind="GuildMemberJoin")
    history.say(general, CAROL, "!play never gonna", after=200)
    history.say(general, CAROL, "", after=200)
    history.say(general, ALICE, "https://example.com/a-link", after=200)
    history.say(general, BOB, "nice", after=200)
    history.say(general, ALICE, "", attachments=("https://cdn.example/img.png",), after=200)
    history.say(general, BOB, "k", after=200)
    history.say(general, ALICE, "k", after=200)
    for _ in range(5):
        history.say(general, CAROL, "BUY MY COIN", after=200)
    history.say(general, ALICE, "a real answer", after=200)
    stats, examples = prepared(workspace, history, DatasetConfig(**{**CONFIG.__dict__, "min_target_chars": 2}),
                               personas="Alice")
    filtered = stats["filtered"]
    assert filtered["bot"] == 1 and filtered["system"] == 1 and filtered["command"] == 1
    assert filtered["empty"] == 1 and filtered["spam"] == 2
    assert filtered["link_only"] == 1 and filtered["attachment_only"] == 1 and filtered["too_short"] == 1
    answer = context_text(by_target(examples)["a real answer"])
    assert "level up" not in answer and "!play" not in answer and "Dyno" not in answer
    assert "[attachment]" in answer                  # kept as context: something was posted
    assert answer.count("BUY MY COIN") == 3          # the copies beyond the limit are gone
    assert "https://example.com/a-link" in answer    # a link-only message is fine as context


def test_opted_out_user_is_cut_out_of_contexts(workspace):
    history = History()
    general = people(history)
    history.say(general, BOB, "before she speaks")
    history.say(general, ALICE, "first answer")
    history.say(general, EVE, "my private words")
    history.say(general, CAROL, f"replying to <@{EVE}>, thanks Eve", mentions=(EVE,))
    history.say(general, ALICE, "second answer")
    conn = workspace.connect()
    consent_store.set_opted_out(conn, EVE, True)
    stats, examples = prepared(workspace, history)
    found = by_target(examples)
    assert context_text(found["first answer"]) == "Bob: before she speaks"
    assert found["second answer"]["messages"][1:-1] == [
        {"role": "user", "content": "Carol: replying to @someone, thanks someone"}]  # cut at her message
    text = (workspace.root / "out" / "train.jsonl").read_text(encoding="utf-8")
    assert "Eve" not in text and "private" not in text
    assert stats["filtered"]["opted_out"] == 1
    assert str(EVE) not in {persona["id"] for persona in stats["personas"]}


def test_dpo_pairs_share_a_prompt_and_are_counted(workspace):
    history = History()
    general = people(history)
    question = history.say(general, BOB, "what should we eat tonight?")
    history.say(general, ALICE, "pizza obviously", reply_to=question, reactions=3)
    history.say(general, CAROL, "salad i guess", reply_to=question)
    stats, _ = prepared(workspace, history)
    pairs = read_jsonl(workspace.root / "out" / "dpo.jsonl")
    assert stats["dpo"]["pairs"] == 1 and len(pairs) == 1
    pair = pairs[0]
    assert pair["prompt"] == [{"role": "system",
                               "content": 'You are Alice, chatting in a channel named "general" on a server named '
                                          '"Test Server".'},
                              {"role": "user", "content": "Bob: what should we eat tonight?"}]
    assert pair["chosen"] == [{"role": "assistant", "content": "pizza obviously"}]
    assert pair["rejected"] == [{"role": "assistant", "content": "salad i guess"}]
    assert pair["meta"]["persona_id"] == str(ALICE)


def test_no_dpo_pair_without_a_shared_context(workspace):
    history = History()
    general = people(history)
    history.say(general, BOB, "anyone?")
    history.say(general, ALICE, "me", reactions=2)
    history.say(general, CAROL, "me too")
    stats, _ = prepared(workspace, history)
    assert stats["dpo"]["pairs"] == 0 and "no pairs" in stats["dpo"]["note"]
    assert (workspace.root / "out" / "dpo.jsonl").read_text() == ""


def test_time_split_puts_the_latest_conversations_in_test(workspace):
    history = History()
    general = people(history)
    for day in range(20):
        history.say(general, BOB, f"day {day} hello", after=86400)
        history.say(general, ALICE, f"day {day} reply")
    config = DatasetConfig(**{**CONFIG.__dict__, "split_by": "time", "split_ratios": [0.7, 0.15, 0.15]})
    prepared(workspace, history, config)
    days = {split: sorted(int(e["messages"][-1]["content"].split()[1])
                          for e in read_jsonl(workspace.root / "out" / f"{split}.jsonl"))
            for split in ("train", "val", "test")}
    assert days["train"] and days["val"] and days["test"]
    assert max(days["train"]) < min(days["val"]) and max(days["val"]) < min(days["test"])


def test_per_persona_strategy_writes_one_set_per_persona(workspace):
    history = History()
    general = people(history)
    for number in range(6):
        history.say(general, BOB, f"bob says {number}", after=4000)
        history.say(general, ALICE, f"alice answers {number}")
        history.say(general, CAROL, f"carol adds {number}")
    stats, _ = prepared(workspace, history, strategy="per-persona")
    folder = workspace.root / "out" / "personas"
    assert sorted(path.name for path in folder.iterdir()) == sorted(str(u) for u in (ALICE, BOB, CAROL))
    alice = read_jsonl(folder / str(ALICE) / "train.jsonl")
    assert len(alice) == 6 and {e["meta"]["persona_id"] for e in alice} == {str(ALICE)}
    assert all(e["messages"][0]["content"].startswith("You are Alice,") for e in alice)
    assert not (workspace.root / "out" / "train.jsonl").exists()
    assert f"personas/{ALICE}/train.jsonl" in stats["files"]


def three_voices(carol_every: int) -> History:
    history = History()
    general = people(history)
    for number in range(30):
        history.say(general, BOB, f"bob {number}")
        history.say(general, ALICE, f"alice {number}")
        if number % carol_every == 0:
            history.say(general, CAROL, f"carol {number}")
    return history


def test_cap_with_few_personas_becomes_one_over_n_and_says_so(workspace):
    history = three_voices(carol_every=1)
    stats, examples = prepared(workspace, history, DatasetConfig(**{**CONFIG.__dict__, "max_share": 0.12}))
    counts = Counter(example["meta"]["persona_id"] for example in examples)
    assert len(set(counts.values())) == 1 and len(counts) == 3  # 1/3 each: equal counts
    assert stats["balance"]["applied_share"] == pytest.approx(1 / 3, abs=1e-6)
    assert "1/3" in stats["balance"]["note"] and stats["balance"]["relaxed"] == []


def test_a_small_persona_is_relaxed_instead_of_collapsing_the_others(workspace, caplog):
    history = three_voices(carol_every=3)  # Carol: 10 messages, Alice and Bob 30 each
    stats, examples = prepared(workspace, history, DatasetConfig(**{**CONFIG.__dict__, "max_share": 0.12}))
    counts = Counter(example["meta"]["persona_id"] for example in examples)
    assert counts[str(CAROL)] == 10                               # keeps every example
    assert counts[str(ALICE)] > 2 * 10 and counts[str(BOB)] > 2 * 10  # not dragged down to Carol's 10
    balance = stats["balance"]
    assert [(entry["id"], entry["name"]) for entry in balance["relaxed"]] == [(str(CAROL), "Carol")]
    assert balance["relaxed"][0]["cap_with"] == 10 and balance["relaxed"][0]["cap_without"] > 20
    assert balance["applied_share"] == pytest.approx(1 / 2, abs=1e-6)
    assert all(count <= balance["applied_share"] * len(examples) for count in counts.values())
    assert "left out of the cap" in balance["note"] and balance["warnings"]
    assert any("left out of the cap" in record.getMessage() for record in caplog.records)  # a visible warning


def test_reacted_targets_are_preferred_when_downsampling(workspace):
    history = History()
    general = people(history)
    for number in range(400):
        history.say(general, BOB, f"bob line {number}")
        history.say(general, ALICE, f"alice line {number}", reactions=1 if number % 2 else 0)
        if number % 4 == 0:
            history.say(general, CAROL, f"carol line {number}")
    # the per-persona maximum downsamples Alice to about a quarter (the share cap would relax Carol instead)
    config = DatasetConfig(**{**CONFIG.__dict__, "per_persona_max": 106, "reaction_boost": 1.5})
    stats, examples = prepared(workspace, history, config)
    kept = [int(e["messages"][-1]["content"].split()[-1]) for e in examples if e["meta"]["persona_id"] == str(ALICE)]
    reacted = sum(1 for number in kept if number % 2)
    assert len(kept) < 400 and reacted > 0.55 * len(kept)  # uniform sampling would keep about half


def test_a_failed_run_leaves_the_previous_dataset_complete(workspace, monkeypatch):
    history = History()
    general = people(history)
    for number in range(5):
        history.say(general, BOB, f"ping {number}")
        history.say(general, ALICE, f"pong {number}")
    prepared(workspace, history)
    out = workspace.root / "out"
    before = {name: (out / name).read_bytes() for name in OUTPUT_FILES}

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(pipeline_module, "second_pass", broken)
    with pytest.raises(RuntimeError):
        prepare_dataset(workspace.connect(), CONFIG, out)
    assert {name: (out / name).read_bytes() for name in OUTPUT_FILES} == before
    assert not list(out.glob(".staging-*"))
    monkeypatch.undo()
    real_replace, calls = os.replace, []

    def crash_midway(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("power cut")
        real_replace(source, target)
    monkeypatch.setattr(os, "replace", crash_midway)
    with pytest.raises(OSError):
        prepare_dataset(workspace.connect(), CONFIG, out)
    assert not (out / "stats.json").exists()  # half-replaced files never look like a complete dataset


def test_the_cap_check_reads_the_written_train_file_back(workspace, monkeypatch):
    from core.dataset import writer
    history = History()
    general = people(history)
    for number in range(6):
        history.say(general, BOB, f"ping {number}")
        history.say(general, ALICE, f"pong {number}")
    real_write = writer.OutputFile.write

    def lose_alices_lines(self, payload):  # a write that silently loses lines the routing loop counted
        if self.path.name == "train.jsonl" and b'"persona_id":"%d"' % ALICE in payload:
            return
        real_write(self, payload)
    monkeypatch.setattr(writer.OutputFile, "write", lose_alices_lines)
    with pytest.raises(DatasetError, match=f"persona {ALICE} has 0 training examples .* its quota is"):
        prepared(workspace, history)
    assert not (workspace.root / "out" / "stats.json").exists()


def test_stats_describe_the_files_and_cli_prepare_preview_latest(workspace):
    history = History()
    general = people(history)
    for number in range(8):
        history.say(general, BOB, f"tell me {number}", after=4000)
        history.say(general, ALICE, f"answer {number}")
    history.write(workspace.connect())
    code, out, err = run_cli("prepare", "--min-messages", "1", "--json", workspace=workspace)
    assert code == 0, err
    summary = json.loads(out)
    folder = workspace.datasets_dir / (workspace.datasets_dir / "latest").read_text().strip()
    assert summary["out"] == str(folder)
    stats = json.loads((folder / "stats.json").read_text())
    for name, described in stats["files"].items():
        data = (folder / name).read_bytes()
        assert described["lines"] == data.count(b"\n") and described["sha256"] == hashlib.sha256(data).hexdigest()
    assert "[TRAIN>>" in (folder / "preview.txt").read_text()
    code, out, err = run_cli("preview", "--count", "2", "--json", workspace=workspace)
    assert code == 0, err
    shown = json.loads(out)
    assert len(shown["examples"]) == 2 and "<|im_start|>assistant\n[TRAIN>>" in shown["examples"][0]["rendered"]
    code, out, err = run_cli("prepare", "--personas", "nobody-by-that-name", workspace=workspace)
    assert code == 1 and "no user named" in err and err.count("\n") == 1


def test_no_personas_is_a_clear_error(workspace):
    history = History()
    general = people(history)
    history.say(general, BOB, "alone")
    history.write(workspace.connect())
    with pytest.raises(DatasetError, match="no personas"):
        prepare_dataset(workspace.connect(), DatasetConfig(min_messages=50), workspace.root / "none")


def test_a_fixed_seed_reproduces_the_files_and_another_seed_splits_differently(workspace):
    history = History()
    general = people(history)
    for number in range(60):
        history.say(general, BOB, f"bob {number}", after=4000)
        history.say(general, ALICE, f"alice {number}", reactions=number % 3)
    conn = workspace.connect()
    history.write(conn)
    config = DatasetConfig(min_messages=1, max_share=0.5)
    contents = []
    for name, seed in (("first", 7), ("second", 7), ("third", 8)):
        prepare_dataset(conn, DatasetConfig(**{**config.__dict__, "seed": seed}), workspace.root / name)
        contents.append({split: (workspace.root / name / f"{split}.jsonl").read_bytes()
                         for split in ("train", "val", "test", "dpo")})
    assert contents[0] == contents[1]
    assert contents[0]["test"] != contents[2]["test"]
