"""Export with real weights: a LoRA run on SmolLM2-135M (trained a few steps on the real exports) → merged → GGUF
by llama.cpp's converter → quantized → loaded in llama.cpp, checked here apart from the worker's smoke test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.tiny_run import tiny_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = tiny_run(tmp_path_factory)
    code, out, err = run_cli("export", run.run_dir.name, "--json", workspace=run.workspace)
    assert code == 0, err[-3000:]
    return run, json.loads(out)


def test_export_writes_gguf_modelfile_and_manifest(exported):
    run, result = exported
    export_dir = run.run_dir / "export"
    gguf = Path(result["gguf"])
    assert gguf.parent == export_dir and gguf.name == "model-q4_k_m.gguf"
    assert gguf.read_bytes()[:4] == b"GGUF"
    assert not (export_dir / "model-f16.gguf").exists()  # the intermediate is removed unless --keep-f16
    assert not list(export_dir.glob("*.partial"))
    assert json.loads((export_dir / "export.json").read_text(encoding="utf-8"))["gguf"] == str(gguf)
    modelfile = (export_dir / "Modelfile").read_text(encoding="utf-8")
    assert f"FROM ./{gguf.name}" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert (Path(result["merged_dir"]) / "config.json").exists()
    quantization = result["quantization"]
    assert quantization["produced"] == "q4_k_m" and quantization["total_tensors"] > 100
    # SmolLM2's 576-wide rows do not fit k-quant blocks: llama.cpp falls back for many tensors, and we say so
    assert quantization["fallback_tensors"] > 0 and "q4_K" in quantization["tensor_types"]
    assert "required fallback quantization" in (export_dir / "quantize.log").read_text(encoding="utf-8")
    state = json.loads((export_dir / "state.json").read_text(encoding="utf-8"))
    assert state["status"] == "finished"
    assert json.loads((run.run_dir / "state.json").read_text(encoding="utf-8"))["status"] == "finished"


def test_smoke_report_covers_template_prompt_shape_and_stop(exported):
    run, result = exported
    smoke = json.loads(Path(result["smoke_file"]).read_text(encoding="utf-8"))
    assert smoke["passed"] and result["smoke_passed"]
    assert all(value for key, value in smoke["checks"].items() if key != "eos_token")
    assert smoke["checks"]["eos_token"] == "<|im_end|>"
    labels = [item["label"] for item in smoke["prompts"]]
    assert any("live prompt" in label for label in labels) and any("dataset prompt" in label for label in labels)
    for item in smoke["prompts"]:
        assert item["messages"][0]["role"] == "system" and item["messages"][0]["content"].startswith("You are ")


def test_gguf_loads_in_llama_cpp_and_a_reply_stops(exported):
    """Independent of the worker: the template in the file is training's, and a sampled reply ends by EOS."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from core.conversation.turns import Persona, Place, Turn
    from core.prompting.builder import build_prompt
    from datetime import datetime, timezone
    run, result = exported
    training_template = (run.run_dir / "adapter" / "chat_template.jinja").read_text(encoding="utf-8")
    llm = Llama(model_path=result["gguf"], n_ctx=1024, n_threads=2, seed=5, verbose=False)
    try:
        assert llm.metadata["tokenizer.chat_template"] == training_template
        history = [Turn(speaker_id=1, speaker_name="Sam", text="anyone tried the new matcha place?",
                        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))]
        messages = build_prompt(Persona(id=2, name="Wren"), Place(server="Moonbase Cafe", channel="general"), history)
        prompt = Jinja2ChatFormatter(template=training_template, eos_token="<|im_end|>",
                                     bos_token="<|im_start|>")(messages=messages).prompt
        assert prompt.endswith("<|im_start|>assistant\n") and "Sam: anyone tried" in prompt
        outcomes = []
        for seed in range(8):
            completion = llm.create_completion(prompt=prompt, max_tokens=96, seed=seed, temperature=0.7, top_p=0.9,
                                               repeat_penalty=1.1, stop=[])
            choice = completion["choices"][0]
            outcomes.append((choice["text"].strip(), choice["finish_reason"]))
            if outcomes[-1][0] and outcomes[-1][1] == "stop":
                break
        assert any(text and reason == "stop" for text, reason in outcomes), outcomes
    finally:
        llm.close()



def test_a_stop_request_ends_the_export_between_steps(exported, tmp_path):
    """The worker honours a stop before its next step: it ends "stopped", and no export.json claims completion."""
    from core.jobs.bus import EventBus
    from core.jobs.events import JobFailed, JobFinished, ProgressReported
    from core.jobs.runner import JobRunner, JobSpec, worker_argv
    run, _ = exported
    out = tmp_path / "export"
    bus = EventBus()
    subscription = bus.subscribe("test")
    job = JobRunner(bus).start(JobSpec(name="export", run_dir=tmp_path, argv=worker_argv(
        "export", "--run-dir", str(run.run_dir), "--out", str(out))))
    seen, ending = [], None
    while ending is None:
        for event in subscription.drain(timeout=1.0):
            if isinstance(event, ProgressReported):
                seen.append(event.step)
                if event.step == 0:
                    job.stop()
            if isinstance(event, (JobFinished, JobFailed)):
                ending = event
    assert job.wait(60) == 0
    assert isinstance(ending, JobFinished) and ending.status == "stopped" and seen == [0]
    assert not (out / "export.json").exists() and not list(out.glob("*.gguf"))


def test_the_export_log_tells_each_phase_in_order(exported):
    """The export job's run.log (what the panel's log box shows) words each phase as it starts and as it ends."""
    from tests.log_order import assert_in_order
    run, _result = exported
    lines = (run.run_dir / "export" / "run.log").read_text(encoding="utf-8").splitlines()
    assert_in_order(lines, [r"^\[runner\] .* launched", r"^export started: llama\.cpp", r"^merging the adapter",
                            r"^merged in .*: .*merged", r"^converting the merged model", r"^converted in .*model-f16",
                            r"^quantizing to q4_k_m", r"^quantized to q4_k_m in", r"^smoke-testing the GGUF",
                            r"^smoke test passed in .*stop rate", r"^Ollama Modelfile written: .*Modelfile",
                            r"^\[runner\] .* finished"])
