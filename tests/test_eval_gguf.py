"""Evaluation of a run that has an exported GGUF: it goes through llama.cpp and the bot's reply pipeline.

The fixture is a fake run folder whose "exported" model is the SmolLM2 GGUF, with a small prepared dataset; its
base model is the same GGUF, so tuned and base figures must agree (a check that both sides are really scored)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

SMOL = Path(__file__).resolve().parents[1] / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PERSONAS = {101: "Alex", 102: "Marguerite"}
LINES = ["anyone up for game night on friday?", "my cat knocked my tea off the desk", "what are you reading lately?",
         "the cafe has a new cake today", "who wants to swap plants?"]


def example(persona_id: int, number: int, reply: str) -> dict:
    name = PERSONAS[persona_id]
    return {"messages": [{"role": "system", "content": f"You are {name}, chatting in #general of Moonbase Cafe."},
                         {"role": "user", "content": f"Sam: {LINES[number % len(LINES)]}"},
                         {"role": "assistant", "content": reply}],
            "meta": {"persona_id": str(persona_id), "message_id": str(5000 + 10 * persona_id + number)}}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def gguf_run(workspace):
    if not SMOL.exists():
        pytest.skip(f"{SMOL} is not installed (run install.py)")
    data_dir = workspace.datasets_dir / "tiny"
    data_dir.mkdir(parents=True)
    write_jsonl(data_dir / "test.jsonl", [example(pid, n, f"reply {n} from {PERSONAS[pid]}, sounds fun")
                                         for pid in PERSONAS for n in range(3)])
    write_jsonl(data_dir / "train.jsonl", [example(pid, n, f"training reply {n} lol") for pid in PERSONAS
                                          for n in range(5)])
    run_dir = workspace.runs_dir / "20260101-000000-gguf"
    (run_dir / "export").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"base_model": {"source": str(SMOL), "kind": "gguf"},
                                                     "data_dir": str(data_dir)}), encoding="utf-8")
    (run_dir / "export" / "export.json").write_text(json.dumps({"gguf": str(SMOL)}), encoding="utf-8")
    return workspace, run_dir


@pytest.mark.slow
def test_eval_of_an_exported_run_uses_llama_cpp_and_finishes_quickly(gguf_run):
    workspace, run_dir = gguf_run
    started = time.monotonic()
    code, out, err = run_cli("eval", run_dir.name, "--limit", "3", "--max-new-tokens", "24", "--json",
                             workspace=workspace)
    seconds = time.monotonic() - started
    assert code == 0, err[-3000:]
    result = json.loads(out)
    assert result["backend"] == "llama.cpp" and result["examples"] == 6
    assert seconds < 180, f"evaluation of 6 examples took {seconds:.0f}s"
    report = json.loads(Path(result["eval_file"]).read_text(encoding="utf-8"))
    assert report["model"] == str(SMOL) and report["base_model"] == str(SMOL)
    assert set(report["personas"]) == {"101", "102"}
    for persona in report["personas"].values():
        perplexity = persona["perplexity"]
        assert perplexity["tuned"] > 1 and perplexity["tuned"] == pytest.approx(perplexity["base"], rel=1e-3)
        assert 0 <= persona["tuned"]["assistant_speak"]["rate"] <= 1
        assert all(not sample["tuned"].lower().startswith(("alex:", "marguerite:"))
                   for sample in persona["samples"])  # replies went through the bot's post-processing
    rows = [json.loads(line) for line in Path(result["blind_ab"]).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    check_examples_and_matrix(report, Path(result["examples_file"]))


def check_examples_and_matrix(report: dict, examples_file: Path) -> None:
    """examples.jsonl has every evaluated example with the attribution eval.json counts, and the confusion matrix
    holds the same counts as each persona's rate, count and confused_with."""
    lines = [json.loads(line) for line in examples_file.read_text(encoding="utf-8").splitlines()]
    assert [line["index"] for line in lines] == list(range(report["overall"]["examples"]))
    sources = [source for source in ("real", "tuned", "base") if source in report["attribution_matrix"]]
    assert sources == ["real", "tuned", "base"]
    for persona, entry in report["personas"].items():
        mine = [line for line in lines if line["persona_id"] == persona]
        assert len(mine) == entry["examples"] and all(line["persona_name"] == entry["name"] for line in mine)
        samples = entry["samples"]
        assert [(line["context"], line["real"], line["tuned"]) for line in mine[:len(samples)]] == \
            [(sample["context"], sample["real"], sample["tuned"]) for sample in samples]
        for source in sources:
            row = report["attribution_matrix"][source][persona]
            counted: dict[str, int] = {}
            for line in mine:
                counted[line["attributed"][source]] = counted.get(line["attributed"][source], 0) + 1
            assert counted == row
            block = entry["attribution"][source]
            assert row.get(persona, 0) == round(block["rate"] * block["count"])
            assert {other: count for other, count in row.items() if other != persona} == block["confused_with"]
    for source in ("tuned", "base"):
        for entry in report["personas"].values():
            length = entry[source]["length"]
            real_median = length["real"]["words_median"]
            assert length["median_ratio"] == (round(length["generated"]["words_median"] / real_median, 3)
                                              if real_median else None)


@pytest.mark.slow
def test_gguf_backend_without_an_export_is_one_clear_line(gguf_run):
    workspace, run_dir = gguf_run
    (run_dir / "export" / "export.json").unlink()
    from model.eval_gguf import exported_gguf
    assert exported_gguf(run_dir) is None
    import subprocess
    import sys
    from core.config.resources import PROJECT_ROOT
    completed = subprocess.run([sys.executable, str(PROJECT_ROOT / "launcher.py"), "--worker", "eval", "--run-dir",
                                str(run_dir), "--backend", "gguf"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1
    assert "has no complete export" in completed.stdout


def naive_nll(engine, prompt: list[dict], reply: str) -> tuple[float, int]:
    """The reference: a fresh evaluation of prompt + reply with every position's logits kept (``logits_all``)."""
    import numpy as np
    llm = engine.llm
    prompt_ids = engine.tokenize(engine.render(prompt))
    reply_ids = llm.tokenize((reply + engine.eos_text).encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    llm.eval(prompt_ids + reply_ids)
    logits = np.asarray(llm.scores[len(prompt_ids) - 1:len(prompt_ids) + len(reply_ids) - 1], dtype=np.float64)
    peak = logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits - peak).sum(axis=1)) + peak[:, 0]
    return float((log_norm - logits[np.arange(len(reply_ids)), reply_ids]).sum()), len(reply_ids)


@pytest.mark.slow
def test_reply_scoring_with_a_shared_cache_matches_a_fresh_logits_all_evaluation():
    """The evaluator's scoring (logits at the reply's positions only, the KV cache reused between examples and
    after generations) gives the same likelihood as evaluating each example from scratch with every logit kept."""
    if not SMOL.exists():
        pytest.skip(f"{SMOL} is not installed (run install.py)")
    from core.prompting.reply import ReplySettings
    from model.eval_gguf import reply_nll
    from model.inference import ReplyEngine
    from model.reply_pipeline import ReplyPipeline
    fast = ReplyPipeline(ReplyEngine.load(SMOL, n_ctx=1024), settings=ReplySettings(max_tokens=12, seed=1))
    reference = ReplyEngine.load(SMOL, n_ctx=1024, logits_all=True)
    try:
        system = {"role": "system", "content": "You are Marguerite, chatting in #general of Moonbase Cafe."}
        turns = [{"role": "user", "content": f"Sam: {line}"} for line in LINES]
        cases = [([system, turns[0]], "sounds fun, count me in"),
                 ([system, turns[0]], "no thanks"),                      # the same prompt again: all of it cached
                 ([system, turns[1]], "oh no, your poor tea"),           # shares the system message only
                 ([system, {"role": "user", "content": "Sam: " + " ".join(LINES)}], "x" * 3),
                 ([{"role": "system", "content": "You are Alex."}, turns[2]], "a long book about cats")]
        for prompt, reply in cases:
            got, count = reply_nll(fast.engine, prompt, reply)
            want, want_count = naive_nll(reference, prompt, reply)
            assert count == want_count
            assert got == pytest.approx(want, rel=2e-3, abs=1e-2), (prompt, reply)
            fast.complete(prompt, "Marguerite")  # a generation between scorings leaves other tokens in the cache
    finally:
        fast.engine.close()
        reference.close()
