"""bench/fidelity_bench.py: a real tiny recipe end to end (prepare, train, export, eval through the GGUF), its table
and target check read from the run's own eval.json, reuse of a finished recipe, and recipe parsing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import fidelity_bench  # noqa: E402

SAMPLE_PERSONAS = {"Pixel", "Marguerite", "Bolt", "Juniper", "Captain Ruckus", "Wren"}


def bench(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "fidelity_bench.py"), *argv], capture_output=True,
                          text=True, encoding="utf-8", timeout=840)


@pytest.mark.slow
def test_a_tiny_recipe_runs_end_to_end_and_its_table_comes_from_the_runs_eval(tmp_path):
    argv = ("--out", str(tmp_path), "--max-steps", "2", "--limit", "1", "--recipe", "tiny:cpu-tiny:dpo=false",
            "--check", "tiny")
    done = bench(*argv)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    result = json.loads((tmp_path / "tiny" / "result.json").read_text(encoding="utf-8"))
    run_dir = Path(result["run_dir"])
    assert (run_dir / "export" / "export.json").exists()
    report = json.loads((run_dir / "eval" / "eval.json").read_text(encoding="utf-8"))
    assert report["backend"] == "llama.cpp"  # scored through the exported GGUF, as the bot runs it
    assert result["figures"] == fidelity_bench.figures(report)
    assert set(result["figures"]) == SAMPLE_PERSONAS | {"overall"}
    assert result["figures"]["overall"]["attr_real"] == report["attribution"]["real"]["rate"]
    assert result["seconds"]["train"] > 0 and result["seconds"]["eval"] > 0
    table = (tmp_path / "table.txt").read_text(encoding="utf-8")
    assert table in done.stdout
    for name in SAMPLE_PERSONAS | {"overall"}:
        assert any(line.startswith(name) and "tiny" in line for line in table.splitlines()), name
    targets = done.stdout.split("targets for tiny:")[1].strip().splitlines()
    assert len(targets) == 4 and all(line.strip().startswith(("[met]", "[MISSED]")) for line in targets)
    again = bench(*argv)  # same settings: the finished recipe is reused, not trained again
    assert again.returncode == 0 and "[tiny] reusing" in again.stdout
    assert json.loads((tmp_path / "tiny" / "result.json").read_text(encoding="utf-8"))["run_id"] == result["run_id"]


def test_recipes_parse_as_preset_and_typed_overrides_and_bad_ones_say_why():
    assert fidelity_bench.parse_recipe("r:cpu-quality:lora_r=32,dataset.style_profile=false,learning_rate=1e-3",
                                       None) == ("r", "cpu-quality", {"lora_r": 32, "dataset.style_profile": False,
                                                                      "learning_rate": 1e-3})
    name, preset, overrides = fidelity_bench.parse_recipe("name-only", "vram-12gb")
    assert (name, preset) == ("name-only", "vram-12gb") and overrides["dataset.style_profile"] is False
    with pytest.raises(SystemExit, match="unknown built-in recipe"):
        fidelity_bench.parse_recipe("nonsense", None)
    with pytest.raises(SystemExit, match="not key=TOML value"):
        fidelity_bench.parse_recipe("r:cpu-tiny:lora_r=thirty", None)


def row(**values) -> dict:
    base = {"examples": 10, "attr_real": 0.9, "attr_tuned": 0.8, "attr_base": 0.3, "style": 0.9, "length_ratio": 1.1,
            "assistant": 0.0, "copied": 0.0, "ppl_tuned": 10.0, "ppl_base": 40.0}
    return {**base, **values}


def test_the_target_check_names_what_misses():
    good = {"figures": {"Wren": row(), "Pixel": row(), "overall": row()}}
    assert all(met for _, met, _ in fidelity_bench.check(good))
    bad = {"figures": {"Wren": row(attr_tuned=0.2, length_ratio=1.5), "Pixel": row(ppl_tuned=50.0),
                       "overall": row(attr_tuned=0.5, copied=0.02)}}
    results = {target: (met, detail) for target, met, detail in fidelity_bench.check(bad)}
    assert results[fidelity_bench.TARGETS[0]] == (False, "tuned/real 0.56; not above base: ['Wren']")
    assert results[fidelity_bench.TARGETS[1]] == (False, "outside: ['Wren']")
    assert results[fidelity_bench.TARGETS[2]][0] is False
    assert results[fidelity_bench.TARGETS[3]] == (False, "not below base: ['Pixel']")
