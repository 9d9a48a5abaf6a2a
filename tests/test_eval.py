"""Evaluation with real weights on the shared tiny run: eval.json per persona, the blind A/B file and its key, and
no opted-out user's text anywhere in what it writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.tiny_run import tiny_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    run = tiny_run(tmp_path_factory)
    code, out, err = run_cli("eval", run.run_dir.name, "--limit", "2", "--max-new-tokens", "12", "--backend",
                             "transformers", "--json", workspace=run.workspace)  # the GGUF path: test_eval_gguf.py
    assert code == 0, err[-3000:]
    return run, json.loads(out)


def test_eval_json_has_every_metric_per_persona(evaluated):
    run, result = evaluated
    report = json.loads(Path(result["eval_file"]).read_text(encoding="utf-8"))
    test_personas = {json.loads(line)["meta"]["persona_id"]
                     for line in (run.data_dir / report["split"]).read_text(encoding="utf-8").splitlines()}
    assert set(report["personas"]) == test_personas
    for persona in report["personas"].values():
        assert 1 <= persona["examples"] <= 2
        assert persona["perplexity"]["tuned"] > 1 and persona["perplexity"]["base"] > 1
        for source in ("tuned", "base"):
            metrics = persona[source]
            assert -1 <= metrics["style_similarity"]["centroid"] <= 1
            assert metrics["length"]["real"]["count"] == persona["examples"]
            assert 0 <= metrics["vocabulary"]["jaccard"] <= 1
            assert 0 <= metrics["assistant_speak"]["rate"] <= 1
            assert 0 <= metrics["regurgitation"]["rate"] <= 1
        assert persona["samples"] and all(sample["real"] for sample in persona["samples"])
    total = sum(persona["examples"] for persona in report["personas"].values())
    assert report["overall"]["examples"] == result["examples"] == total


def test_tuned_and_base_are_scored_separately(evaluated):
    """The adapter is on for "tuned" and off for "base" (a few steps on ~50 examples move perplexity only a little,
    so the direction is left to the training tests' loss curve)."""
    _, result = evaluated
    perplexity = result["overall"]["perplexity"]
    assert perplexity["tuned"] != perplexity["base"]
    assert abs(perplexity["tuned"] - perplexity["base"]) / perplexity["base"] < 0.5


def test_blind_ab_key_points_at_the_real_replies(evaluated):
    run, result = evaluated
    rows = [json.loads(line) for line in Path(result["blind_ab"]).read_text(encoding="utf-8").splitlines()]
    key = json.loads(Path(result["blind_ab_key"]).read_text(encoding="utf-8"))
    assert len(rows) == len(key) == result["examples"]
    real_replies = {}
    for name in ("test.jsonl", "val.jsonl"):
        for line in (run.data_dir / name).read_text(encoding="utf-8").splitlines():
            example = json.loads(line)
            real_replies[example["meta"]["message_id"]] = example["messages"][-1]["content"]
    for row in rows:
        assert set(row) == {"id", "persona", "context", "A", "B"}
        entry = key[row["id"]]
        assert row[entry["real"]] == real_replies[entry["message_id"]]


def test_no_opted_out_text_in_any_eval_output(evaluated):
    run, _ = evaluated
    assert run.opted_out_texts, "the fixture should opt out a user who wrote longer messages"
    for path in (run.run_dir / "eval").iterdir():
        if path.suffix in (".json", ".jsonl"):
            text = path.read_text(encoding="utf-8")
            leaked = [message for message in run.opted_out_texts if message in text
                      or json.dumps(message, ensure_ascii=False)[1:-1] in text]
            assert not leaked, f"{path.name} contains opted-out text"
