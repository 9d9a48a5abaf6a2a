"""Training config layers, presets, base model resolution, the memory estimate, launch errors and OOM advice."""
from __future__ import annotations

import json

import pytest

from core.jobs import runs
from core.config.training import (PRESET_NAMES, PresetError, TrainingConfig, available_presets,
                                  build_training_config, resolve_base_model)
from core.training.launch import LaunchError, plan_new_run, plan_resume
from core.training.vram import ModelShape, estimate, preset_for_gpu
from model.train_worker import is_oom, oom_advice
from tests.conftest import run_cli

QWEN_3B = ModelShape(hidden=2048, layers=36, intermediate=11008, vocab=151936, heads=16, kv_heads=2,
                     tied_embeddings=True)


def test_every_preset_loads_and_validates():
    assert set(PRESET_NAMES) <= set(available_presets())
    for name in PRESET_NAMES:
        config = build_training_config(name)
        assert isinstance(config, TrainingConfig)
    tiny = build_training_config("cpu-tiny")
    assert tiny.max_length == 256 and not tiny.load_in_4bit and tiny.lora_layers > 0


def test_layers_apply_in_order_and_are_strict():
    config = build_training_config("vram-8gb", user={"lora_r": 4, "max_steps": 10}, flags={"max_steps": 3})
    assert config.per_device_batch_size == 4  # from the preset
    assert config.lora_r == 4                 # the user's table beats the preset
    assert config.max_steps == 3              # the command line beats both
    with pytest.raises(PresetError, match="unknown key 'lora_rank'"):
        build_training_config(None, user={"lora_rank": 4})
    with pytest.raises(PresetError, match="'max_length' must be int"):
        build_training_config(None, user={"max_length": "long"})
    with pytest.raises(PresetError, match="unknown preset 'vram-2gb'"):
        build_training_config("vram-2gb")
    with pytest.raises(PresetError, match="per_device_batch_size"):
        build_training_config(None, flags={"per_device_batch_size": 0})


def test_base_model_kinds(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_base_model(gguf) == {"source": str(gguf.resolve()), "kind": "gguf"}
    assert resolve_base_model(folder)["kind"] == "folder"
    assert resolve_base_model(tmp_path)["kind"] == "gguf"  # a folder with exactly one .gguf
    assert resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct") == {
        "source": "HuggingFaceTB/SmolLM2-135M-Instruct", "kind": "hub"}
    with pytest.raises(PresetError, match="neither a file, a folder nor"):
        resolve_base_model("no-such-model")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(PresetError, match="must be a .gguf"):
        resolve_base_model(tmp_path / "notes.txt")


def test_memory_estimate_matches_the_anchor_and_warns():
    config = build_training_config(None, flags={"lora_r": 64, "lora_alpha": 128, "per_device_batch_size": 8,
                                                "max_length": 1024})
    measured = estimate(config, QWEN_3B, "cuda", available_gb=80.0)
    assert 4.1 <= measured.total_gb <= 6.0  # the H100 measured 4.1 GB for this shape (ANCHORS.md)
    assert measured.fits and measured.warning() is None
    tight = estimate(config, QWEN_3B, "cuda", available_gb=3.0)
    assert tight.fits is False and "per_device_batch_size" in tight.warning()
    smaller = build_training_config(None, flags={"per_device_batch_size": 2, "lora_r": 64, "lora_alpha": 128,
                                                 "max_length": 1024})
    assert estimate(smaller, QWEN_3B, "cuda").total_gb < measured.total_gb
    assert preset_for_gpu(None) == "cpu-tiny" and preset_for_gpu(24.0) == "vram-24gb"
    assert preset_for_gpu(11.9) == "vram-12gb" and preset_for_gpu(6.0) == "vram-8gb"


def test_launch_errors_are_one_clear_line(workspace, tmp_path):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    with pytest.raises(LaunchError, match="run `launcher.py prepare` first"):
        plan_new_run(workspace, base=str(base))
    code, out, err = run_cli("train", "--base", str(base), "--data", str(tmp_path), "--json", workspace=workspace)
    assert code == 1 and out == "" and err.count("\n") == 1 and "train.jsonl" in err
    code, _, err = run_cli("train", "--resume", "nope", workspace=workspace)
    assert code == 1 and "no run 'nope'" in err
    code, _, err = run_cli("train", "--max-steps", "0", workspace=workspace)
    assert code == 2
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    (data / "STALE").write_text("built from a user who asked to be forgotten\n")
    code, _, err = run_cli("train", "--data", str(data), "--base", str(base), workspace=workspace)
    assert code == 1 and "is stale: built from a user who asked to be forgotten" in err
    code, _, err = run_cli("train", "--data", str(data), "--base", str(tmp_path / "x.gguf"), workspace=workspace)
    assert code == 1 and "neither a file" in err


def test_a_run_folder_is_written_before_launch_and_resume_needs_a_checkpoint(workspace, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    workspace.config_path.write_text("[training]\nlora_r = 4\n", encoding="utf-8")
    planned = plan_new_run(workspace, base=str(base), data=str(data), preset="cpu-tiny", flags={"max_steps": 5})
    snapshot = json.loads((planned.run_dir / runs.CONFIG_FILE).read_text(encoding="utf-8"))
    assert snapshot["training"]["lora_r"] == 4 and snapshot["training"]["max_steps"] == 5
    assert snapshot["base_model"] == {"source": str(base.resolve()), "kind": "gguf"}
    assert snapshot["data_dir"] == str(data.resolve()) and snapshot["preset"] == "cpu-tiny"
    assert runs.read_state(planned.run_dir)["status"] == "created"
    with pytest.raises(LaunchError, match="no checkpoint"):
        plan_resume(workspace, planned.run_id)
    code, out, _ = run_cli("runs", "list", "--json", workspace=workspace)
    assert code == 0 and [run["run_id"] for run in json.loads(out)["runs"]] == [planned.run_id]


def test_out_of_memory_advice_names_the_knobs(tmp_path):
    runs_dir = tmp_path / "runs"
    run_dir = runs.create_run(runs_dir, {"training": {"per_device_batch_size": 8, "gradient_accumulation_steps": 2,
                                                      "max_length": 2048, "lora_r": 64,
                                                      "gradient_checkpointing": False}})
    advice = oom_advice(run_dir)
    assert "per_device_batch_size 8 → 4" in advice and "gradient_accumulation_steps 2 → 4" in advice
    assert "max_length 2048 → 1024" in advice and "gradient_checkpointing → true" in advice
    assert "lora_r 64 → 32" in advice
    assert is_oom(MemoryError()) and is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not is_oom(RuntimeError("shape mismatch"))


def test_a_hub_model_offline_is_a_clear_error():
    import subprocess
    import sys
    from pathlib import Path
    code = ("from model.training_model import WorkerError, locate_base\n"
            "try:\n"
            "    locate_base({'source': 'someone/no-such-model', 'kind': 'hub'}, lambda event: None)\n"
            "except WorkerError as exc:\n"
            "    print(exc.message); print(exc.advice)\n")
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    message, advice = result.stdout.splitlines()[:2]
    assert message.startswith("could not download 'someone/no-such-model' from the Hugging Face Hub")
    assert "--base" in advice
