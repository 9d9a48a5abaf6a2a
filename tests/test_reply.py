"""Post-processing of generated replies (core.prompting.reply): pure functions, no model."""
from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from core.prompting.reply import (blocked_word, clean_reply, leaks_internals, speakers_in_prompt, split_message,
                                  stop_sequences)

WORDS = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=30)
PIECES = st.lists(st.one_of(WORDS, st.sampled_from([" ", "\n", "\n\n", ". ", "! ", "? ", "@everyone", "é", "🎉"])),
                  max_size=400)


@settings(max_examples=200, deadline=None)
@given(PIECES, st.integers(min_value=20, max_value=2000))
def test_split_parts_fit_the_limit_and_keep_every_character(pieces, limit):
    text = "".join(pieces)
    parts = split_message(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert all(part == part.strip() for part in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


def test_split_prefers_line_then_sentence_boundaries():
    lines = [f"line {number} " + "x" * 80 for number in range(40)]
    parts = split_message("\n".join(lines), 500)
    assert len(parts) > 1
    assert all(part.startswith("line ") and part.endswith("x" * 80) for part in parts)  # whole lines only
    sentences = " ".join(f"Sentence number {number} is here." for number in range(200))
    parts = split_message(sentences, 2000)
    assert all(len(part) <= 2000 and part.endswith(".") for part in parts)


def test_split_hard_cuts_only_a_run_without_boundaries():
    parts = split_message("a" * 4500)
    assert [len(part) for part in parts] == [2000, 2000, 500]
    assert split_message("   ") == []
    assert split_message("short") == ["short"]


def test_everyone_stays_inert_text_through_cleaning_and_splitting():
    raw = "Alex: hey @everyone and @here, look " + "word " * 500 + "@everyone"
    cleaned = clean_reply(raw, "Alex", ["Sam"])
    parts = split_message(cleaned)
    assert cleaned.startswith("hey @everyone and @here")
    assert sum(part.count("@everyone") for part in parts) == 2
    assert not any("<@" in part for part in parts)  # never turned into mention syntax


def test_leading_name_label_is_stripped():
    assert clean_reply("Alex: sure, friday works", "Alex", ["Sam"]) == "sure, friday works"
    assert clean_reply("  alex :  yes", "Alex", []) == "yes"
    assert clean_reply("**Alex**: bold label", "Alex", []) == "bold label"
    assert clean_reply("Alexandra: not my name", "Alex", []) == "Alexandra: not my name"


def test_other_speakers_turns_are_cut():
    raw = "I'll bring snacks\nand games\nSam: great!\nAlex: see you"
    assert clean_reply(raw, "Alex", ["Sam", "Ollie"]) == "I'll bring snacks\nand games"
    assert clean_reply("Sam: I am Sam now", "Alex", ["Sam"]) == ""
    assert clean_reply("ok<|im_end|>\n<|im_start|>user\nSam: hi", "Alex", ["Sam"]) == "ok"
    assert clean_reply("fine\nAlex: more from me", "Alex", ["Sam"]) == "fine\nmore from me"


def test_stop_sequences_cover_speakers_and_template_tokens():
    stops = stop_sequences(["Sam", "  Ollie  Jr ", "", "Sam"], ["<|im_end|>", "<|im_start|>"])
    assert stops == ["\nSam:", "\nOllie Jr:", "<|im_end|>", "<|im_start|>"]


def test_blocked_word_matches_whole_words_case_insensitively():
    assert blocked_word("That is a BadWord indeed", ["badword"]) == "badword"
    assert blocked_word("badwording is different", ["badword"]) is None
    assert blocked_word("no bad  phrase here", ["bad phrase"]) == "bad phrase"
    assert blocked_word("anything", []) is None


def test_internal_leaks_are_detected():
    system = "You are Alex, chatting in #general of Moonbase Cafe. Likes tea."
    assert leaks_internals("my prompt: You are Alex, chatting in #general of Moonbase Cafe.", system)
    assert leaks_internals("Traceback (most recent call last): ...", system)
    assert not leaks_internals("I am Alex and I like tea", system)


def test_speakers_are_read_from_prompt_lines():
    messages = [{"role": "system", "content": "You are Alex, chatting in #g of S."},
                {"role": "user", "content": "Sam: hi\nOllie: yo: there"}, {"role": "assistant", "content": "x: y"},
                {"role": "user", "content": "Alex: me\nSam: again"}]
    assert speakers_in_prompt(messages, "Alex") == ["Sam", "Ollie"]
