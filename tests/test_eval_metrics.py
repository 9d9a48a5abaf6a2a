"""The evaluation metrics (core.evaluation.metrics), checked against values worked out by hand."""
from __future__ import annotations

import math

import pytest

from core.evaluation import metrics as m


def test_perplexity_is_exp_of_mean_nll():
    assert m.perplexity(2 * math.log(4), 2) == pytest.approx(4.0)
    assert m.perplexity(0.0, 5) == pytest.approx(1.0)
    assert m.perplexity(3.0, 0) is None


def test_words_lowercase_and_keep_apostrophes():
    assert m.words("I’m SO happy!! can't wait 🎮") == ["i'm", "so", "happy", "can't", "wait"]


def test_length_summary_and_histogram():
    summary = m.length_summary(["lol", "ok sure", "this is four words", "one two three four five six seven eight nine"])
    assert summary["count"] == 4
    assert summary["words_mean"] == pytest.approx((1 + 2 + 4 + 9) / 4)
    assert summary["words_median"] == 3.0
    assert summary["histogram"] == {"1": 0.25, "2": 0.25, "3-4": 0.25, "5-8": 0.0, "9-16": 0.25, "17-32": 0.0,
                                    "33+": 0.0}
    assert sum(summary["histogram"].values()) == pytest.approx(1.0)
    assert m.length_summary([]) == {"count": 0}


def test_length_comparison_overlap_and_ratio():
    same = m.length_comparison(["a b", "c"], ["x y", "z"])
    assert same["histogram_overlap"] == pytest.approx(1.0)
    assert same["mean_ratio"] == pytest.approx(1.0)
    long_replies = ["word " * 40] * 2
    different = m.length_comparison(["hi", "yo"], long_replies)
    assert different["histogram_overlap"] == 0.0
    assert different["mean_ratio"] == pytest.approx(40.0)
    assert different["median_ratio"] == pytest.approx(40.0) and same["median_ratio"] == pytest.approx(1.0)
    skewed = m.length_comparison(["a", "a b", "a b c d e f g h i j"], ["x y", "x y z w", "x y z w"])
    assert skewed["median_ratio"] == pytest.approx(2.0)  # medians 2 and 4; the means (4.33, 3.33) say shorter
    assert m.length_comparison(["🙂", "🎮"], ["ok"])["median_ratio"] is None  # no words to divide by


def test_vocabulary_overlap():
    result = m.vocabulary_overlap(["the cat sat", "a cat"], ["the dog sat"])
    # real types {the, cat, sat, a}; generated {the, dog, sat}; shared {the, sat}
    assert result["jaccard"] == pytest.approx(2 / 5)
    assert result["generated_in_real"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["real_covered"] == pytest.approx(2 / 4)
    assert m.vocabulary_overlap([], [])["jaccard"] == 0.0


def test_assistant_speak_flags_assistant_phrases_not_chat():
    replies = ["Certainly! I'd be happy to help with that.", "lol same", "As an AI, I don’t have personal opinions.",
               "sure, after 9", "great question tbh"]
    result = m.assistant_speak(replies)
    assert result["flagged"] == 3
    assert result["rate"] == pytest.approx(3 / 5)
    assert result["phrases"]["certainly!"] == 1
    assert "as an ai" in result["phrases"] and "i don't have personal" in result["phrases"]
    assert m.assistant_phrases_in("sure, after 9") == []


def test_regurgitation_exact_and_ngram_but_not_short_chat():
    targets = m.TrainingTargets(["the bakery on 5th rewards patience in my experience truly", "lol", "same here"])
    generated = ["The bakery on 5th rewards patience, in my experience, truly!",   # exact after normalising
                 "honestly the bakery on 5th rewards patience in my experience",   # shares an 8-word run
                 "lol",                                                            # too short to count
                 "same here",
                 "the bakery is nice"]
    result = m.regurgitation(generated, targets)
    assert (result["exact"], result["ngram"]) == (1, 1)
    assert result["rate"] == pytest.approx(2 / 5)
    assert len(result["examples"]) == 2
    assert m.regurgitation([], targets)["rate"] == 0.0


def test_cosine_and_style_similarity():
    assert m.cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert m.cosine([1, 0], [0, 1]) == pytest.approx(0.0)
    assert m.cosine([0, 0], [1, 1]) == 0.0
    result = m.style_similarity([[1, 0], [0, 1]], [[1, 0], [1, 0]])
    assert result["paired_mean"] == pytest.approx(0.5)
    assert result["centroid"] == pytest.approx(1 / math.sqrt(2), abs=1e-4)
    assert m.style_similarity([], [[1, 0]]) == {"paired_mean": None, "centroid": None}


def test_blind_ab_key_recovers_real_and_is_seeded():
    items = [{"persona": f"P{i}", "persona_id": str(i), "message_id": str(100 + i), "context": [f"ctx {i}"],
              "real": f"real {i}", "generated": f"fake {i}"} for i in range(40)]
    rows, key = m.blind_ab(items, seed=3)
    assert len(rows) == len(key) == 40
    for row in rows:
        assert list(row) == ["id", "persona", "context", "A", "B"]
        entry = key[row["id"]]
        assert row[entry["real"]].startswith("real ") and row[entry["generated"]].startswith("fake ")
        assert row[entry["real"]] == f"real {entry['persona_id']}"
        assert "real" not in row and "generated" not in row  # nothing in the row gives the answer away
    sides = [key[row["id"]]["real"] for row in rows]
    assert 5 < sides.count("A") < 35  # both positions are used
    assert [row["persona"] for row in rows] != [item["persona"] for item in items]  # shuffled
    assert m.blind_ab(items, seed=3) == (rows, key)
    assert m.blind_ab(items, seed=4) != (rows, key)
