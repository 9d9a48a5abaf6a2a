"""``launcher.py demo`` end to end, offline on the CPU, as a real subprocess: sample server → import → prepare →
train (cpu-tiny, a few steps to keep CI short) → GGUF export → two personas' replies from llama.cpp."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "launcher.py"), "--workspace", str(tmp_path / "ws"), "demo", "--max-steps", "3",
         "--json"], capture_output=True, text=True, encoding="utf-8", timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object on stdout; progress went to stderr
    result = json.loads(lines[0])
    for step in ("[1/5] importing", "[2/5] preparing", "[3/5] training", "[4/5] exporting", "[5/5] replies"):
        assert step in completed.stderr
    demo = tmp_path / "ws" / "demo"
    assert Path(result["workspace"]) == demo and Path(result["database"]).exists()
    assert not (tmp_path / "ws" / "studio.db").exists()  # the user's own database is never touched
    assert result["imported_messages"] > 1900 and len(result["personas"]) >= 5
    assert result["training"]["status"] == "finished" and result["training"]["steps"] == 3
    assert Path(result["gguf"]).read_bytes()[:4] == b"GGUF" and Path(result["modelfile"]).exists()
    replies = result["replies"]
    assert {reply["persona"] for reply in replies} == {"Captain Ruckus", "Marguerite"}
    assert len(replies) == 6 and len({reply["prompt"] for reply in replies}) == 3
    assert all(reply["reply"] for reply in replies)
    assert sum(reply["stopped"] for reply in replies) >= 3
