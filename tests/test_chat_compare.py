"""The playground's compare mode: two models answer the same line through the bot's pipeline, with the same prompt,
settings and seed; which model is "the base"; model B that does not fit beside A on the GPU.

The real-weights tests compare a run's export with its base where the export is a byte copy of the bundled SmolLM2:
with the same prompt and seed, the two replies must then be the same text, which they are only when nothing but the
model file differs between the sides."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from argparse import Namespace
from contextlib import closing
from pathlib import Path

import pytest

from core.config.resources import PROJECT_ROOT
from tests.conftest import run_cli
from tests.test_chat import GENERAL, SMOL, sample_workspace  # noqa: F401 (fixture)
from tests.test_reply_pipeline import FakeEngine

RUN_ID = "20261207-120000-train-c0de"


def fake_run(workspace, base_model, gguf: Path | None = None) -> Path:
    """A run folder whose config records ``base_model`` and whose export is ``gguf`` copied (or a stub file)."""
    run_dir = workspace.runs_dir / RUN_ID
    (run_dir / "export").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"kind": "train", "base_model": base_model}), encoding="utf-8")
    export = run_dir / "export" / "model-q4_k_m.gguf"
    if gguf is None:
        export.write_bytes(b"GGUF")
    else:
        shutil.copyfile(gguf, export)
    return export


# -- which model is B -----------------------------------------------------------------------------------------------
def test_the_base_of_a_run_is_the_gguf_its_config_records_else_the_offline_default(workspace, tmp_path, monkeypatch):
    from core.prompting.compare import CompareError, compare_model
    base = tmp_path / "my-base.gguf"
    base.write_bytes(b"GGUF")
    export = fake_run(workspace, {"source": str(base), "kind": "gguf"})
    assert compare_model(export, "base") == base
    offline = tmp_path / "offline.gguf"
    offline.write_bytes(b"GGUF")
    monkeypatch.setenv("DPS_BASE_MODEL", str(offline))
    (export.parent.parent / "config.json").write_text(json.dumps(
        {"base_model": {"source": "HuggingFaceTB/SmolLM2-135M-Instruct", "kind": "hub"}}), encoding="utf-8")
    assert compare_model(export, "base") == offline  # the offline default's own model, as a GGUF
    (export.parent.parent / "config.json").write_text(json.dumps(
        {"base_model": {"source": "meta-llama/Llama-3.2-3B-Instruct", "kind": "hub"}}), encoding="utf-8")
    with pytest.raises(CompareError, match="Llama-3.2-3B-Instruct, not a GGUF file"):
        compare_model(export, "base")
    loose = workspace.models_dir / "downloaded.gguf"
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_bytes(b"GGUF")
    assert compare_model(loose, "base") == offline  # a model outside a run: the offline default base
    with pytest.raises(CompareError, match="untrained base model itself"):
        compare_model(offline, "base")
    with pytest.raises(CompareError, match="compared with itself"):
        compare_model(export, export)
    with pytest.raises(CompareError, match="does not exist"):
        compare_model(export, tmp_path / "nothing.gguf")
    base.unlink()
    (export.parent.parent / "config.json").write_text(json.dumps(
        {"base_model": {"source": str(base), "kind": "gguf"}}), encoding="utf-8")
    with pytest.raises(CompareError, match="no longer exists"):
        compare_model(export, "base")


def test_a_compare_the_cli_cannot_resolve_is_a_one_line_error(sample_workspace):
    code, _, err = run_cli("chat", "--persona", "Marguerite", "--model", str(SMOL), "--compare", "base", "hi",
                           workspace=sample_workspace)
    assert code == 1 and err.count("\n") == 1 and "--compare base:" in err and "itself" in err
    code, _, err = run_cli("chat", "--persona", "Marguerite", "--model", str(SMOL), "--compare", "/no/such.gguf",
                           "hi", workspace=sample_workspace)
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err


# -- what each side sees --------------------------------------------------------------------------------------------
def sessions_over(workspace, *engines, seed=None):
    from core.prompting.reply import ReplySettings
    from model.chat_worker import Session
    from model.reply_pipeline import ReplyPipeline
    with closing(workspace.connect()) as conn:
        return [Session(ReplyPipeline(engine, settings=ReplySettings(seed=seed)), conn,
                        Namespace(persona="Marguerite", channel=GENERAL)) for engine in engines]


def test_each_side_gets_every_typed_line_and_only_its_own_replies_with_one_seed_per_line(sample_workspace):
    from model.chat_worker import exchange
    engine_a, engine_b = FakeEngine(["tea sounds lovely", "lemon cake!"]), FakeEngine(["no thanks", "no cake"])
    sessions = sessions_over(sample_workspace, engine_a, engine_b)
    first = [(side, reply.text) for side, _session, reply in exchange(sessions, "anyone want tea?", None)]
    assert first == [("a", "tea sounds lovely"), ("b", "no thanks")]
    assert engine_a.calls[0]["messages"] == engine_b.calls[0]["messages"]  # the same prompt for both models
    assert engine_a.calls[0]["seed"] == engine_b.calls[0]["seed"] is not None  # one seed for both
    list(exchange(sessions, "and cake?", None))
    second_a, second_b = engine_a.calls[1]["messages"], engine_b.calls[1]["messages"]
    assert {"role": "assistant", "content": "tea sounds lovely"} in second_a  # A's own reply is in A's conversation
    assert "no thanks" not in json.dumps(second_a) and "tea sounds lovely" not in json.dumps(second_b)
    assert {"role": "assistant", "content": "no thanks"} in second_b
    assert second_a[-1]["content"].endswith("You: and cake?") and second_b[-1]["content"].endswith("You: and cake?")
    assert engine_a.calls[1]["seed"] == engine_b.calls[1]["seed"] != engine_a.calls[0]["seed"]  # fresh per line
    typed = [message for message in sessions[0].history if message.content == "and cake?"]
    assert typed and typed[0] in sessions[1].history  # one typed message object, in both conversations


def test_a_given_seed_is_the_seed_of_both_sides_on_every_line(sample_workspace):
    from model.chat_worker import exchange
    engine_a, engine_b = FakeEngine(["one", "two"]), FakeEngine(["uno", "dos"])
    sessions = sessions_over(sample_workspace, engine_a, engine_b, seed=7)
    for text in ("hi", "again"):
        list(exchange(sessions, text, 7))
    assert [call["seed"] for call in engine_a.calls + engine_b.calls] == [7, 7, 7, 7]


# -- memory: model B beside model A ---------------------------------------------------------------------------------
class LoadedEngine:
    def __init__(self, path, gpu_layers):
        self.path, self.gpu_layers, self.closed = path, gpu_layers, False

    def close(self):
        self.closed = True


def scripted_load(monkeypatch, fits):
    """ReplyEngine.load that succeeds when ``fits(path, gpu_layers)``; records every try."""
    from model import chat_worker
    from model.inference import InferenceError
    tries, loaded = [], []

    def load(path, n_ctx=2048, gpu_layers=-1):
        tries.append((Path(path).name, gpu_layers))
        if not fits(Path(path).name, gpu_layers):
            raise InferenceError(f"llama.cpp could not load {path} (corrupt or unsupported GGUF: cudaMalloc failed)")
        loaded.append(LoadedEngine(Path(path), -1 if gpu_layers else 0))
        return loaded[-1]
    monkeypatch.setattr(chat_worker.ReplyEngine, "load", staticmethod(load))
    return tries, loaded


def compare_args(**overrides):
    return Namespace(**{"model": Path("a-8b.gguf"), "compare": Path("b-8b.gguf"), "n_ctx": 2048, "gpu_layers": -1,
                        **overrides})


def test_model_b_that_does_not_fit_on_the_gpu_beside_a_runs_on_the_cpu(monkeypatch, capsys):
    from model.chat_worker import load_engines
    tries, _ = scripted_load(monkeypatch, lambda name, layers: name == "a-8b.gguf" or layers == 0)
    first, second = load_engines(compare_args())
    assert tries == [("a-8b.gguf", -1), ("b-8b.gguf", -1), ("b-8b.gguf", 0)]
    assert first.gpu_layers and not second.gpu_layers
    assert "loading it on the CPU" in capsys.readouterr().out  # the worker's log says why B is slower


def test_model_b_that_loads_nowhere_is_one_line_and_frees_model_a(monkeypatch):
    from model.chat_worker import load_engines
    from model.inference import InferenceError
    tries, loaded = scripted_load(monkeypatch, lambda name, layers: name == "a-8b.gguf")
    with pytest.raises(InferenceError) as failure:
        load_engines(compare_args())
    message = str(failure.value)
    assert message.startswith("model B did not load, neither on the GPU beside model A nor on the CPU")
    assert "b-8b.gguf" in message and "\n" not in message and loaded[0].closed
    tries.clear()
    with pytest.raises(InferenceError, match="^model B did not load: "):
        load_engines(compare_args(gpu_layers=0))  # A on the CPU already: no second try
    assert tries == [("a-8b.gguf", 0), ("b-8b.gguf", 0)]


# -- real weights ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_run_and_its_base_answer_the_same_line_with_the_same_prompt_and_seed(sample_workspace):
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    export = fake_run(sample_workspace, {"source": str(SMOL), "kind": "gguf"}, SMOL)
    code, out, err = run_cli("chat", "--persona", "Marguerite", "--model", str(export), "--compare", "base",
                             "--channel", str(GENERAL), "--max-tokens", "32", "--json", "anyone want tea?",
                             workspace=sample_workspace)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert result["model"] == str(export.resolve()) and result["compare"] == str(SMOL)
    first, second = result["replies"]
    assert (first["side"], first["model"]) == ("a", str(export.resolve()))
    assert (second["side"], second["model"]) == ("b", str(SMOL))
    assert first["seed"] == second["seed"] == result["seed"] is not None  # a fresh seed, the same for both
    assert first["prompt"] == second["prompt"] and first["prompt_tokens"] == second["prompt_tokens"] > 100
    assert first["tokens"] > 0 and second["tokens"] > 0
    assert first["reply"] == second["reply"] and first["dropped_reason"] == second["dropped_reason"]  # same weights
    code, out, err = run_cli("chat", "--persona", "Marguerite", "--model", str(export), "--compare", str(SMOL),
                             "--max-tokens", "16", "--seed", "3", "hello", workspace=sample_workspace)
    assert code == 0, err[-2000:]
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"A {RUN_ID}/model-q4_k_m.gguf> ")
    assert lines[-1].startswith(f"B {SMOL.name}> ")


@pytest.mark.slow
def test_interactive_compare_keeps_one_worker_and_prints_both_sides_per_line(sample_workspace):
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    export = fake_run(sample_workspace, {"source": str(SMOL), "kind": "gguf"}, SMOL)
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "launcher.py"), "--workspace", str(sample_workspace.root), "chat",
         "--persona", "Wren", "--model", str(export), "--compare", "base", "--seed", "2", "--max-tokens", "24",
         "--no-memory"], input="hello there\nwhat are you up to?\n/quit\n", capture_output=True, text=True,
        timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    sides = re.findall(r"Wren \[([AB] [^\]]+)\]> ", completed.stdout)  # after the "you> " prompts
    assert sides == [f"A {RUN_ID}/model-q4_k_m.gguf", f"B {SMOL.name}"] * 2, completed.stdout
    log = (sample_workspace.logs_dir / "chat" / "run.log").read_text(encoding="utf-8")
    assert log.count("launched pid") == 1  # one worker, both models, both lines
