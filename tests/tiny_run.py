"""One tiny real training run shared by the export and evaluation tests (training costs the most CI time).

Built once per test session, on first use: the shipped fictional sample server (assets/sample_server, so a bare
clone runs these tests) imported into a fresh workspace, one active member opted out, a dataset prepared, and
SmolLM2-135M trained with LoRA for a few steps (``cpu-tiny``) through the real ``train`` command and worker process.
Tests must not modify what it returns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.config.resources import asset
from tests.conftest import run_cli

SAMPLE_EXPORT = asset("sample_server", "export")
OPTED_OUT_USER = "1210000000000003000"  # "Bolt", 264 messages in the sample server
TRAIN_STEPS = "4"
_cache: dict[str, "TinyRun"] = {}


@dataclass(frozen=True)
class TinyRun:
    workspace: object      # core.config.workspace.Workspace
    run_dir: Path
    data_dir: Path
    opted_out_texts: frozenset[str]  # the opted-out user's longer messages, which no output may contain


def opted_out_texts() -> frozenset[str]:
    texts = set()
    for path in SAMPLE_EXPORT.rglob("*.json"):
        for message in json.loads(path.read_text(encoding="utf-8"))["messages"]:
            if message["author"]["id"] == OPTED_OUT_USER and len(message["content"]) >= 20:
                texts.add(message["content"])
    return frozenset(texts)


def tiny_run(tmp_path_factory) -> TinyRun:
    if "run" not in _cache:
        _cache["run"] = build(tmp_path_factory.mktemp("tiny-run"))
    return _cache["run"]


def build(root: Path) -> TinyRun:
    from core.config.workspace import Workspace
    workspace = Workspace.open(root / "ws")
    data_dir = root / "data"
    steps = [("import", str(SAMPLE_EXPORT)), ("personas", "optout", OPTED_OUT_USER),
             ("prepare", "--out", str(data_dir)),
             ("train", "--data", str(data_dir), "--preset", "cpu-tiny", "--max-steps", TRAIN_STEPS)]
    for argv in steps:
        code, out, err = run_cli(*argv, "--json", workspace=workspace)
        assert code == 0, f"{argv[0]} failed: {err[-2000:]}"
    result = json.loads(out)
    assert result["status"] == "finished", result
    return TinyRun(workspace, Path(result["run_dir"]), data_dir, opted_out_texts())
