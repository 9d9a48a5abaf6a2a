"""What the evaluation worker writes for the Models page, without a model: each record attributed by the
nearest-centroid step (a fake embedder whose vectors are known), the confusion matrix beside the rates, one
examples.jsonl line per evaluated example, and blind-test picks of an earlier evaluation removed."""
from __future__ import annotations

import json

import numpy as np

from core.evaluation.attribution import NearestCentroid, attribution_rates, confusion_matrix, predict_replies
from model.eval_attribution import add_attribution
from model.eval_worker import example_lines, write_outputs

VOICES = {"ann": [1.0, 0.0, 0.0], "ben": [0.0, 1.0, 0.0], "cid": [0.0, 0.0, 1.0]}


class KeywordEmbedder:
    """A reply's vector is the voice its first word names ("ann ...", "ben ...")."""

    def encode(self, texts):
        return np.array([VOICES[text.split()[0]] for text in texts], dtype=np.float32)


def example(persona: str, reply: str) -> dict:
    return {"messages": [{"role": "system", "content": f"You are {persona}, chatting in #general of Cafe."},
                         {"role": "user", "content": "Sam: hi"}, {"role": "assistant", "content": reply}],
            "meta": {"persona_id": persona}}


def record(persona: str, real: str, tuned: str, base: str | None) -> dict:
    prompt = [{"role": "system", "content": f"You are {persona}, chatting in #general of Cafe."},
              {"role": "user", "content": "Sam: who's in tonight?"}, {"role": "assistant", "content": "earlier"},
              {"role": "user", "content": "Ollie: me"}, {"role": "user", "content": "Sam: and you?"}]
    return {"persona": persona, "persona_name": persona.title(), "message_id": f"m-{persona}-{real}",
            "prompt": prompt, "real": real, "tuned": tuned, "base": base, "tuned_nll": 1.0, "base_nll": 1.0,
            "tokens": 2}


def evaluated(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.joinpath("train.jsonl").write_text("".join(json.dumps(example(p, f"{p} says hi")) + "\n"
                                                    for p in ("ann", "ben", "cid")), encoding="utf-8")
    records = [record("ann", "ann real", "ann tuned", "cid base"), record("ann", "ann real 2", "ben tuned", "cid"),
               record("ben", "ben real", "ben tuned", "ann base"), record("ben", "cid real", "ann tuned", "ben b")]
    report = {"personas": {"ann": {"name": "Ann"}, "ben": {"name": "Ben"}}, "overall": {}}
    add_attribution(report, records, data, with_base=True, embedder=KeywordEmbedder())
    return report, records


def test_each_record_is_attributed_and_the_matrix_agrees_with_the_rates(tmp_path):
    report, records = evaluated(tmp_path)
    assert [r["attributed"] for r in records] == [
        {"real": "ann", "tuned": "ann", "base": "cid"}, {"real": "ann", "tuned": "ben", "base": "cid"},
        {"real": "ben", "tuned": "ben", "base": "ann"}, {"real": "cid", "tuned": "ann", "base": "ben"}]
    matrix = report["attribution_matrix"]
    assert matrix["tuned"] == {"ann": {"ann": 1, "ben": 1}, "ben": {"ben": 1, "ann": 1}}
    assert matrix["base"] == {"ann": {"cid": 2}, "ben": {"ann": 1, "ben": 1}}
    for persona, entry in report["personas"].items():
        for source in ("real", "tuned", "base"):
            rates = entry["attribution"][source]
            row = matrix[source][persona]
            assert sum(row.values()) == rates["count"]
            assert row.get(persona, 0) == round(rates["rate"] * rates["count"])
            assert {k: v for k, v in row.items() if k != persona} == rates["confused_with"]
    assert report["attribution"]["tuned"] == {"rate": 0.5, "count": 4}  # the summary is unchanged in shape


def test_rates_from_one_prediction_pass_match_attribution_rates():
    rng = np.random.default_rng(0)
    classifier = NearestCentroid().fit({name: rng.normal(size=(20, 8)) + i for i, name in enumerate("abc")})
    replies = {"real": {name: rng.normal(size=(15, 8)) + i for i, name in enumerate("abc")},
               "tuned": {"a": rng.normal(size=(6, 8))}}
    predicted = predict_replies(classifier, replies)
    rates = attribution_rates(classifier, replies)
    matrix = confusion_matrix(predicted)
    assert set(matrix) == {"real", "tuned"} and sum(matrix["tuned"]["a"].values()) == 6
    for source, rows in matrix.items():
        for persona, row in rows.items():
            assert row.get(persona, 0) == round(rates["personas"][persona][source]["rate"] * sum(row.values()))


def test_examples_lines_and_write_outputs(tmp_path):
    report, records = evaluated(tmp_path)
    lines = example_lines(records, with_base=True)
    assert len(lines) == 4 and lines[1] == {
        "index": 1, "persona_id": "ann", "persona_name": "Ann", "message_id": "m-ann-ann real 2",
        "context": ["(them) earlier", "Ollie: me", "Sam: and you?"], "real": "ann real 2", "tuned": "ben tuned",
        "base": "cid", "attributed": {"real": "ann", "tuned": "ben", "base": "cid"}}
    assert all(line["base"] is None for line in example_lines(records, with_base=False))
    unattributed = example_lines([{**records[0], "attributed": None}], with_base=True)[0]
    assert unattributed["attributed"] == {"real": None, "tuned": None, "base": None}
    out = tmp_path / "run" / "eval"
    out.mkdir(parents=True)
    (out / "blind_picks.jsonl").write_text('{"example": 3}\n', encoding="utf-8")  # judged an earlier evaluation
    write_outputs(out, report, records, seed=0, with_base=True)
    written = [json.loads(line) for line in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert written == lines
    assert not (out / "blind_picks.jsonl").exists()
    assert json.loads((out / "eval.json").read_text(encoding="utf-8"))["attribution_matrix"] == \
        report["attribution_matrix"]
    assert sorted(path.name for path in out.iterdir()) == ["blind_ab.jsonl", "blind_ab_key.json", "eval.json",
                                                           "examples.jsonl"]  # no temp file left behind
