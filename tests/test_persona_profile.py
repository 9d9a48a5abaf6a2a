"""The automatic persona profile: what it says about a voice, that prepare puts the same line in every split and the
bot's prompt, that it comes from training replies only, the owner's edit, and that forget and opt-out delete it."""
from __future__ import annotations

import json
from pathlib import Path

from core.config.app_config import DatasetConfig
from core.consent import actions
from core.conversation.turns import Place
from core.dataset.personas import load_persona
from core.dataset.pipeline import prepare_dataset
from core.dataset.profile import compute_profiles, describe
from core.prompting.builder import system_prompt
from storage import personas as store
from tests.test_dataset_support import History, read_jsonl

ALICE, BOB, CAROL = 11, 12, 13
CONFIG = DatasetConfig(min_messages=1, split_ratios=[0.8, 0.0, 0.2], max_share=1.0, split_by="time",
                       conversation_gap_minutes=5)


def test_the_line_says_length_casing_endings_emoji_phrases_and_tone_and_never_a_name():
    texts = {
        1: [f"ngl the raid was wild lol 🎮 bob {n}" for n in range(20)] + ["ok same lol"] * 5,
        2: [f"Indeed, a fine point about the tea number {n}." for n in range(25)],
        3: [f"ARRR THE SEA IS CALLING ME HEARTIES {n}!" for n in range(25)],
    }
    profiles = compute_profiles(texts, names=["Bob", "Alice"])
    lowercase, formal, shouting = describe(profiles[1]), describe(profiles[2]), describe(profiles[3])
    assert "all lowercase" in lowercase and "🎮" in lowercase and '"ngl' in lowercase
    assert "rarely ends with punctuation" in lowercase and "tone: laid-back" in lowercase
    assert "full stops" in formal and "proper capitalisation" in formal and "tone: formal" in formal
    assert "indeed" in formal
    assert "CAPITALS" in shouting and "exclamation marks" in shouting and "tone: excitable" in shouting
    assert "bob" not in lowercase.lower()  # addressing someone is not a style
    assert describe(compute_profiles({9: []})[9]) == ""


def chatty_history(*, late_phrase: str) -> History:
    """Alice and Bob chat in ten conversations; only the last ones (the test split with split_by=time) have
    Alice's ``late_phrase``."""
    history = History()
    history.user(ALICE, "Alice")
    history.user(BOB, "Bob")
    history.user(CAROL, "Carol")
    general = history.channel(3000, "general")
    for conversation in range(10):
        late = conversation >= 8
        for turn in range(6):
            number = f"{conversation}.{turn}"  # distinct texts: repeats would be dropped as spam
            history.say(general, BOB, f"so what about game {number}?", after=3600 if turn == 0 else 30)
            history.say(general, ALICE, f"{late_phrase} {number}" if late else f"lol ngl it slaps {number} 🎮",
                        after=30)
            history.say(general, CAROL, f"Indeed, quite so {number}.", after=30)
    return history


def test_prepare_puts_the_training_replies_profile_in_every_split_and_the_bot_prompt_is_the_same(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra crossing tonight").write(conn)
    stats = prepare_dataset(conn, CONFIG, workspace.root / "out")
    lines = stats["style_profile"]["lines"]
    assert stats["style_profile"]["used"] and str(ALICE) in lines
    assert "zebra" not in lines[str(ALICE)]  # said only in the held-out conversations
    assert "ngl" in lines[str(ALICE)] and "🎮" in lines[str(ALICE)]
    for split in ("train", "test"):
        examples = read_jsonl(workspace.root / "out" / f"{split}.jsonl")
        assert examples, split
        for example in examples:
            system = example["messages"][0]["content"]
            assert system.endswith(" " + lines[example["meta"]["persona_id"]]), system
    # The bot's persona (load_persona) gives the same system message as the prepared examples.
    example = read_jsonl(workspace.root / "out" / "test.jsonl")[0]
    persona = load_persona(conn, int(example["meta"]["persona_id"]))
    assert system_prompt(persona, Place("Test Server", "general")) == example["messages"][0]["content"]


def test_with_the_profile_off_no_example_and_no_bot_prompt_gets_a_line(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra crossing tonight").write(conn)
    stats = prepare_dataset(conn, DatasetConfig(**{**CONFIG.__dict__, "style_profile": False}),
                            workspace.root / "out")
    assert not stats["style_profile"]["used"]
    for example in read_jsonl(workspace.root / "out" / "train.jsonl"):
        assert "Style:" not in example["messages"][0]["content"]
    assert load_persona(conn, ALICE).description is None


def test_the_owners_edited_line_replaces_the_computed_one_in_prepare_and_the_bot(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra").write(conn)
    prepare_dataset(conn, CONFIG, workspace.root / "first")
    computed = store.styles(conn)[ALICE]["line"]
    store.edit_style(conn, ALICE, "Style: dry humour, never uses emoji.")
    prepare_dataset(conn, CONFIG, workspace.root / "second")
    systems = {example["messages"][0]["content"] for example in read_jsonl(workspace.root / "second" / "train.jsonl")
               if example["meta"]["persona_id"] == str(ALICE)}
    assert systems and all(system.endswith(" Style: dry humour, never uses emoji.") for system in systems)
    assert load_persona(conn, ALICE).description == "Style: dry humour, never uses emoji."
    assert store.styles(conn)[ALICE]["line"] == computed  # the computed line is kept for "reset"
    store.edit_style(conn, ALICE, "")
    assert load_persona(conn, ALICE).description == computed


def stored_text(database: Path, phrase: str) -> bool:
    return phrase.encode() in database.read_bytes() or any(
        phrase.encode() in path.read_bytes() for path in database.parent.glob(database.name + "-*"))


def test_forget_and_opt_out_delete_the_profile_with_its_phrases(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra").write(conn)
    prepare_dataset(conn, CONFIG, workspace.root / "out")
    profiles = store.styles(conn)
    assert {ALICE, BOB, CAROL} <= profiles.keys()
    assert "ngl" in json.dumps(profiles[ALICE]["profile"])
    actions.opt_out(conn, workspace.root, CAROL)
    assert CAROL not in store.styles(conn) and CAROL not in store.style_lines(conn, active_only=False)
    actions.forget(conn, workspace.root, ALICE)
    assert ALICE not in store.styles(conn)
    assert BOB in store.styles(conn)
    conn.close()
    assert not stored_text(workspace.database_path, "it slaps")  # not in the file, the WAL or the journal


def test_the_same_replies_give_the_same_line_whatever_the_string_hash_seed():
    """Ties between phrases or emoji are broken by their text, not by set order (which the hash seed changes)."""
    import os
    import subprocess
    import sys
    script = ("from core.dataset.profile import compute_profiles, describe\n"
              "texts = {1: [f'ok lol same {n} 🎮 😂' for n in range(9)] + ['ya ok 😂 🎮 nah'] * 3,\n"
              "         2: [f'yes indeed friend {n} 🍵 ✨' for n in range(9)] + ['ok sure 🍵 ✨'] * 3}\n"
              "print('|'.join(describe(profile) for profile in compute_profiles(texts).values()))\n")
    lines = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8",
                            env={**os.environ, "PYTHONHASHSEED": str(seed)}, cwd=Path(__file__).parents[1],
                            check=True).stdout for seed in range(1, 7)}
    assert len(lines) == 1, lines


def test_quoted_lines_rotate_in_training_never_show_the_target_and_are_fixed_for_evaluation_and_the_bot(workspace):
    conn = workspace.connect()
    chatty_history(late_phrase="zebra crossing tonight").write(conn)
    config = DatasetConfig(**{**CONFIG.__dict__, "style_examples": 2})
    stats = prepare_dataset(conn, config, workspace.root / "out")
    fixed = stats["style_profile"]["lines"][str(ALICE)]
    assert fixed.count('" / "') == 1 and "Lines they wrote:" in fixed and "zebra" not in fixed
    systems = set()
    for example in read_jsonl(workspace.root / "out" / "train.jsonl"):
        system, target = example["messages"][0]["content"], example["messages"][-1]["content"]
        if example["meta"]["persona_id"] == str(ALICE):
            assert "Lines they wrote:" in system and f'"{target}"' not in system  # never its own answer
            systems.add(system)
    assert len(systems) > 3  # other lines in other examples
    tests = [example for example in read_jsonl(workspace.root / "out" / "test.jsonl")
             if example["meta"]["persona_id"] == str(ALICE)]
    assert tests and all(example["messages"][0]["content"].endswith(" " + fixed) for example in tests)
    bot_system = system_prompt(load_persona(conn, ALICE), Place("Test Server", "general"))
    assert bot_system == tests[0]["messages"][0]["content"]
