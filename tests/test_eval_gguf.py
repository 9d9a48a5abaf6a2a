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
