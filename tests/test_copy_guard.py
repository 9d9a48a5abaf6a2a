"""model.copy_guard: the guard comes from the training replies of the run a GGUF was exported from."""
from __future__ import annotations

import json

from model.copy_guard import copy_guard_for


def test_an_exported_model_is_guarded_by_its_runs_training_replies_and_others_are_not(tmp_path):
    data = tmp_path / "datasets" / "d1"
    data.mkdir(parents=True)
    row = {"messages": [{"role": "system", "content": "You are Wren."}, {"role": "user", "content": "Sam: hi"},
                        {"role": "assistant", "content": "salt and starlight is like a small lighthouse"}]}
    (data / "train.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    run = tmp_path / "runs" / "r1"
    (run / "export").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_dir": str(data)}), encoding="utf-8")
    model = run / "export" / "model-q8_0.gguf"
    model.write_bytes(b"GGUF")
    guard = copy_guard_for(model)
    assert guard is not None and guard.copied("Salt and starlight is like a small lighthouse!") == "exact"
    assert guard.copied("a lighthouse of a book, honestly") is None
    elsewhere = tmp_path / "models" / "other.gguf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"GGUF")
    assert copy_guard_for(elsewhere) is None
    (data / "train.jsonl").unlink()
    data.rmdir()
    assert copy_guard_for(model) is None  # the dataset is gone (or was deleted by a forget): nothing to check
