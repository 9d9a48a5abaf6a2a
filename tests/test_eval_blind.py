"""The blind test's logic (core.evaluation.blind): pairs built from examples.jsonl hide which side is which, picks
round-trip through blind_picks.jsonl without message text, the score counts what it says, and a broken line is one
clear error naming the file and the line."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

import pytest

from core.evaluation import blind

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def examples(count: int = 12, personas: int = 3, base: bool = True) -> list[dict]:
    return [{"index": n, "persona_id": str(100 + n % personas), "persona_name": f"P{n % personas}",
             "context": [f"someone: line {n}"], "real": f"real {n}", "tuned": f"tuned {n}",
             "base": f"base {n}" if base else None, "attributed": {}} for n in range(count)]


def test_pairs_hide_the_sides_and_the_key_tells_them():
    items = examples(40, personas=4)
    built = blind.build_pairs(items, size=20, seed=3)
    assert len(built) == 20
    assert {field.name for field in dataclasses.fields(blind.BlindPair)} == {"number", "persona", "context", "a",
                                                                            "b"}
    for pair, key in built:
        example = items[key.example]
        assert (example[key.a], example[key.b]) == (pair.a, pair.b)
        assert {key.a, key.b} == set(blind.KINDS[key.kind])
        assert pair.persona == example["persona_name"] and pair.context == tuple(example["context"])
    real_on = {"A" if key.a == "real" else "B" for _pair, key in built if key.kind == "real-tuned"}
    tuned_on = {"A" if key.a == "tuned" else "B" for _pair, key in built}
    assert real_on == tuned_on == {"A", "B"}  # neither position gives the answer away
    assert {key.kind for _pair, key in built} == {"real-tuned", "tuned-base"}  # both kinds, alternating
    assert [pair.number for pair, _key in built] == list(range(1, 21))
    assert blind.build_pairs(items, size=20, seed=3) == built  # seeded: the same sitting again
    assert len({items[key.example]["persona_id"] for _pair, key in built[:4]}) == 4  # spread over the personas


def test_pairs_skip_answered_and_empty_sides_and_fall_back_without_a_base():
    items = examples(6, personas=2, base=False)
    items[0]["tuned"] = ""  # the bot would have sent nothing: a give-away, left out
    built = blind.build_pairs(items, size=10, seed=0)
    assert {key.kind for _pair, key in built} == {"real-tuned"} and 0 not in {key.example for _p, key in built}
    answered = {(key.example, key.kind) for _pair, key in built[:3]}
    again = blind.build_pairs(items, size=10, seed=1, answered=answered)
    assert not {(key.example, key.kind) for _pair, key in again} & answered and len(again) == len(built) - 3


def test_picks_round_trip_without_message_text(tmp_path):
    path = tmp_path / "eval" / blind.PICKS_FILE
    items = examples()
    built = blind.build_pairs(items, size=4, seed=0)
    for (_pair, key), choice in zip(built, ["A", "B", "cant-tell", "A"]):
        blind.store_pick(path, blind.make_pick(key, choice, WHEN))
    stored = blind.read_picks(path)
    assert [pick["pick"] for pick in stored] == ["A", "B", "cant-tell", "A"]
    assert stored[0] == {"example": built[0][1].example, "kind": built[0][1].kind, "A": built[0][1].a,
                         "B": built[0][1].b, "pick": "A", "at": "2024-05-01T12:00:00+00:00"}
    text = path.read_text(encoding="utf-8")
    assert not any(item[source] in text for item in items for source in ("real", "tuned", "base"))
    assert blind.answered_pairs(stored) == {(key.example, key.kind) for _pair, key in built}
    with pytest.raises(ValueError, match="one of A, B, cant-tell"):
        blind.make_pick(built[0][1], "C")
    assert blind.read_picks(tmp_path / "none.jsonl") == []


def pick(kind: str, a: str, b: str, choice: str, example: int = 0) -> dict:
    return {"example": example, "kind": kind, "A": a, "B": b, "pick": choice, "at": "2024-05-01T12:00:00+00:00"}


def test_score_counts_tuned_picks_of_the_decided_ones():
    picks = [pick("real-tuned", "tuned", "real", "A"), pick("real-tuned", "real", "tuned", "B"),
             pick("real-tuned", "real", "tuned", "A"), pick("real-tuned", "tuned", "real", "cant-tell"),
             pick("tuned-base", "base", "tuned", "B"), pick("tuned-base", "tuned", "base", "B"),
             pick("tuned-base", "tuned", "base", "A")]
    scores = blind.score(picks)
    assert scores["real-tuned"] == blind.KindScore("real-tuned", tuned_picked=2, decided=3, cant_tell=1)
    assert scores["tuned-base"] == blind.KindScore("tuned-base", tuned_picked=2, decided=3, cant_tell=0)
    assert blind.score_line(scores) == "Blind test: tuned picked over real 2 of 3; over base 2 of 3 (1 can't tell)"
    assert blind.score_line(blind.score(picks[4:])) == "Blind test: tuned picked over base 2 of 3"
    assert blind.score_line({}) == "Blind test: not taken yet"


@pytest.mark.parametrize("line, problem", [
    ('{"example": 1, "kind": "real-tuned", "A": "real", "B": "tu', "not valid JSON"),
    ('["A"]', "not a JSON object"),
    ('{"example": -1, "kind": "real-tuned", "A": "real", "B": "tuned", "pick": "A", "at": "x"}', "no example index"),
    ('{"example": 1, "kind": "real-base", "A": "real", "B": "base", "pick": "A", "at": "x"}', "unknown pair kind"),
    ('{"example": 1, "kind": "tuned-base", "A": "real", "B": "tuned", "pick": "A", "at": "x"}', "do not fit"),
    ('{"example": 1, "kind": "real-tuned", "A": "real", "B": "tuned", "pick": "C", "at": "x"}', "pick 'C'"),
    ('{"example": 1, "kind": "real-tuned", "A": "real", "B": "tuned", "pick": "A"}', "no timestamp"),
])
def test_a_broken_picks_line_is_one_line_naming_file_and_line(tmp_path, line, problem):
    path = tmp_path / blind.PICKS_FILE
    good = json.dumps(pick("real-tuned", "real", "tuned", "A"))
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(blind.BlindFileError) as caught:
        blind.read_picks(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ") and problem in message and "\n" not in message
    with pytest.raises(blind.BlindFileError, match=":3: "):  # a pick is never added to a file it cannot read
        blind.store_pick(path, pick("real-tuned", "real", "tuned", "B"))
    assert path.read_text(encoding="utf-8").count("\n") == 3


def test_a_partial_last_line_is_reported_and_examples_lines_are_checked(tmp_path):
    path = tmp_path / blind.PICKS_FILE
    path.write_text(json.dumps(pick("real-tuned", "real", "tuned", "A")) + "\n" + '{"example": 2, "ki',
                    encoding="utf-8")
    with pytest.raises(blind.BlindFileError, match=r"blind_picks\.jsonl:2: not valid JSON"):
        blind.read_picks(path)
    examples_path = tmp_path / blind.EXAMPLES_FILE
    examples_path.write_text(json.dumps(examples(1)[0]) + "\n" + json.dumps({"persona_id": "1"}) + "\n",
                             encoding="utf-8")
    with pytest.raises(blind.BlindFileError, match=r"examples\.jsonl:2: not an evaluated example"):
        blind.read_examples(examples_path)


def test_storing_adds_a_line_to_a_file_without_a_final_newline(tmp_path):
    path = tmp_path / blind.PICKS_FILE
    path.write_text(json.dumps(pick("real-tuned", "real", "tuned", "A")), encoding="utf-8")
    blind.store_pick(path, pick("tuned-base", "base", "tuned", "B", example=3))
    assert [item["example"] for item in blind.read_picks(path)] == [0, 3]
