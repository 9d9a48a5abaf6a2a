"""Post-processing of generated replies (core.prompting.reply): pure functions, no model."""
from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings, strategies as st

from core.prompting.reply import (blocked_word, clean_reply, leaks_internals, speakers_in_prompt, split_message,
                                  stop_sequences, trim_cut_reply)

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


# -- replies cut by the token limit ------------------------------------------------------------------------------
def test_cut_reply_ends_after_its_last_sentence_with_closers_and_emoji():
    assert trim_cut_reply("That would blow our minds! 🌱 I'm") == "That would blow our minds! 🌱"
    assert trim_cut_reply('he said "go away!" and th') == 'he said "go away!"'
    assert trim_cut_reply("Sure (I think so.) Then we") == "Sure (I think so.)"
    assert trim_cut_reply("lol 😂 so true!! 🔥🔥 and") == "lol 😂 so true!! 🔥🔥"
    assert trim_cut_reply("done. 👨\u200d👩\u200d") == "done. 👨\u200d👩"  # the cut left a joiner dangling
    assert trim_cut_reply("Well... I guess th") == "Well..."
    assert trim_cut_reply("first line\nsecond li") == "first line"
    assert trim_cut_reply("That was fun!") == "That was fun!"  # cut right after a sentence: nothing to trim


def test_cut_reply_dots_inside_numbers_addresses_and_abbreviations_end_no_sentence():
    assert trim_cut_reply("It costs 3.5 dollars and") == "It costs 3.5 dollars…"
    assert trim_cut_reply("see https://example.com/page.html and") == "see https://example.com/page.html…"
    assert trim_cut_reply("Okay. I run version 3.") == "Okay."  # the next token may have been the 5 of 3.5
    assert trim_cut_reply("Okay. it's on www.example.") == "Okay."  # .com may have come next
    assert trim_cut_reply("Ask Mr. Smith about it and") == "Ask Mr. Smith about it…"
    assert trim_cut_reply("time is 10:30 now and") == "time is 10:30 now…"


def test_cut_reply_without_a_sentence_ends_at_a_clause_then_a_whole_word():
    assert trim_cut_reply("I like cats, dogs, and th") == "I like cats, dogs…"
    assert trim_cut_reply("I went there — and th") == "I went there…"
    assert trim_cut_reply("two things: tea and bis") == "two things…"
    assert trim_cut_reply("read pages 3–5 of the bo") == "read pages 3–5 of the…"  # a range, not a dash
    assert trim_cut_reply("honestly the best part was the mus") == "honestly the best part was the…"
    assert trim_cut_reply("I said (hello") == "I said…"
    assert trim_cut_reply("hello there ") == "hello there…"  # a space after the cut: the last word was finished


def test_cut_reply_in_cjk_ends_at_its_own_marks_or_not_at_all():
    assert trim_cut_reply("今天天气很好。我们去公") == "今天天气很好。"
    assert trim_cut_reply("今天天气很好，我们去公") == "今天天气很好…"
    assert trim_cut_reply("今天天气很好我们去公") == ""  # no spaces, no marks: no boundary known, so no reply


def test_cut_reply_of_one_long_word_or_no_words_is_empty():
    assert trim_cut_reply("a" * 300) == ""
    assert trim_cut_reply("https://example.com/a/very/long/path") == ""
    assert trim_cut_reply("... wh") == ""
    assert trim_cut_reply("") == ""


@settings(max_examples=300, deadline=None)
@given(PIECES)
def test_cut_reply_is_a_prefix_that_never_ends_inside_a_word(pieces):
    text = "".join(pieces)
    trimmed = trim_cut_reply(text)
    kept = trimmed if text.startswith(trimmed) else trimmed.removesuffix("…")
    assert text.startswith(kept)
    following = text[len(kept):len(kept) + 1]
    assert not (kept[-1:].isalnum() and following.isalnum()), (text, trimmed)
    assert trimmed == "" or any(char.isalnum() or unicodedata.category(char) == "So" for char in trimmed)
