"""The job log in words (core.jobs.log_lines): what each event says, that runs recorded before the phase events
still read, the phase and run ETA, and, through the real job runner and a real subprocess, that run.log holds
exactly the lines a consumer of the bus (the panel, the command line) words from the same events."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.jobs import wire
from core.jobs.bus import EventBus
from core.jobs.eta import RunEta
from core.jobs.events import (PHASES, CheckpointSaved, EvalReported, JobFinished, JobStarted, LogLine, PhaseFinished,
                              PhaseStarted, ProgressReported, from_dict)
from core.jobs.log_lines import lines_for, status_text
from core.jobs.runner import JobRunner
from core.jobs.runs import LOG_FILE, read_metrics
from core.jobs.specs import JobSpec
from tests.log_order import assert_in_order

FAKE_WORKER = Path(__file__).resolve().parent / "fake_worker.py"
# Lines of a metrics.jsonl written before the phase events existed (a real run of the previous version, trimmed).
LEGACY_METRICS = [
    '{"time": 1796685534.8, "event": "progress", "step": 0, "elapsed": 8.9, '
    '"message": "loading SmolLM2.gguf (peft, cpu)"}',
    '{"time": 1796685564.2, "event": "started", "name": "train", "backend": "peft", "device": "cpu", "total_steps": 6, '
    '"details": {"precision": "bf16", "packing": true, "examples": 1140}}',
    '{"time": 1796685572.3, "event": "progress", "step": 1, "total": 6, "epoch": 0.001825, "loss": 4.684458, '
    '"learning_rate": 0.001, "grad_norm": 0.965529, "tokens_per_second": 44.7, "tokens": 336, "elapsed": 46.4, '
    '"message": "sft"}',
    '{"time": 1796685697.3, "event": "eval", "step": 6, "eval_loss": 3.9403, "metrics": {"eval_runtime": 85.7}}',
    '{"time": 1796685719.7, "event": "progress", "step": 1, "total": 4, "epoch": 0.17, "loss": 0.693147, '
    '"learning_rate": 5e-06, "grad_norm": 0.748928, "tokens_per_second": 38.2, "elapsed": 193.8, "message": "dpo"}',
]


def test_a_logged_step_says_phase_epoch_loss_lr_grad_speed_memory_elapsed_and_both_etas():
    step = ProgressReported(step=10, total=20, epoch=0.05, loss=2.34567, learning_rate=7.5e-4, grad_norm=1.2345,
                            tokens_per_second=1234.4, rss=1.84, elapsed=62.0, eta=65.0, run_eta=130.0, phase="sft",
                            message="sft")
    assert lines_for(step) == ["SFT 10/20 · epoch 0.05 · loss 2.3457 · lr 7.50e-04 · grad 1.23 · 1,234 tok/s · "
                               "RAM 1.8 GiB · 1m 02s · ETA 1m 05s (run 2m 10s)"]
    assert status_text(step) == "SFT 10/20 · 50% · ETA 1m 05s (run 2m 10s) · 1,234 tok/s · RAM 1.8 GiB"
    dpo = ProgressReported(step=2, total=4, loss=0.6951, reward_margin=-0.004, reward_accuracy=0.5, vram_used=3.21,
                           vram_peak=4.0, eta=40.0, run_eta=40.0, phase="dpo", message="dpo")
    assert lines_for(dpo) == ["DPO 2/4 · loss 0.6951 · margin -0.0040 · acc 50% · VRAM 3.2 GiB (peak 4.0) · "
                              "ETA 40s"]
    assert status_text(dpo).startswith("DPO 2/4 · 50% · ETA 40s")


def test_evals_checkpoints_and_the_runner_notes_have_their_lines():
    assert lines_for(EvalReported(step=10, eval_loss=2.5, best_loss=2.4, examples=32,
                                  metrics={"eval_mean_token_accuracy": 0.41, "eval_runtime": 85.7})) == [
        "eval at step 10: loss 2.5000 (best 2.4000) · token accuracy 41.0% · 32 examples in 1m 26s"]
    saved = CheckpointSaved(step=20, path="/runs/r/checkpoints/checkpoint-20",
                            pruned=("/runs/r/checkpoints/checkpoint-10",))
    assert lines_for(saved) == ["checkpoint saved at step 20: checkpoints/checkpoint-20 (deleted checkpoint-10 to "
                                "keep the newest)"]
    assert wire.parse_line(wire.encode(saved)) == [saved]  # the pruned tuple survives the JSON list
    assert lines_for(LogLine(text="stop requested", stream="runner")) == ["[runner] stop requested"]
    assert lines_for(JobFinished(status="stopped", time=0.0)) == ["[runner] 1970-01-01T00:00:00+00:00 stopped"]


def test_every_phase_is_worded_even_without_its_details():
    for phase in PHASES:
        for event in (PhaseStarted(phase=phase), PhaseFinished(phase=phase), PhaseFinished(phase=phase, seconds=3)):
            assert all(isinstance(line, str) and line for line in lines_for(event)), event
    assert lines_for(PhaseFinished(phase="dpo", details={"skipped": "dpo.jsonl has no usable pairs"})) == [
        "DPO skipped: dpo.jsonl has no usable pairs"]
    assert lines_for(PhaseFinished(phase="sft", seconds=62, details={
        "step": 3, "stopped": True, "checkpoint": "/r/checkpoints/checkpoint-3"})) == [
        "SFT stopped at step 3 as asked, after 1m 02s: saved checkpoints/checkpoint-3; Resume continues from step 3"]


def test_runs_recorded_before_the_phase_events_replay_and_read():
    events = [from_dict(json.loads(line)) for line in LEGACY_METRICS]
    progress = [event for event in events if isinstance(event, ProgressReported)]
    assert [event.stage for event in progress] == ["", "sft", "dpo"]  # the stage came from ``message``
    words = [line for event in events for line in lines_for(event)]
    assert words == [
        "training on cpu with peft (bf16, 1,140 examples, 6 steps)",
        "SFT 1/6 · epoch 0.00 · loss 4.6845 · lr 1.00e-03 · grad 0.966 · 45 tok/s · 46s · ETA estimating",
        "eval at step 6: loss 3.9403 · evaluated in 1m 26s",
        "DPO 1/4 · epoch 0.17 · loss 0.6931 · lr 5.00e-06 · grad 0.749 · 38 tok/s · 3m 14s · ETA estimating"]


def test_the_run_eta_adds_the_later_phases_at_the_current_pace():
    now = [0.0]
    eta = RunEta(lambda: now[0])
    eta.plan([["sft", 10], ["dpo", 4]])
    seen = []
    for step in range(1, 11):
        now[0] += 2.0
        seen.append(eta.observe("sft", step, 10))
    assert seen[:3] == [(None, None)] * 3  # the first step is the mark, then three steps of pace
    assert seen[4] == (10.0, 18.0)  # step 5: 5 SFT steps left at 2 s, then 4 DPO steps at the same pace
    now[0] += 30.0  # the final evaluation and saving
    assert eta.observe("dpo", 1, 4) == (None, None)  # DPO measures its own pace from its own first step
    for step in (2, 3, 4):
        now[0] += 5.0
        last = eta.observe("dpo", step, 4)
    assert last == (0.0, 0.0)


def test_the_run_log_holds_exactly_the_lines_the_bus_events_word(tmp_path):
    bus = EventBus()
    subscription = bus.subscribe("test")
    spec = JobSpec(name="train", run_dir=tmp_path, argv=(sys.executable, str(FAKE_WORKER), "--phases", "--steps", "5",
                                                          "--eval-every", "2", "--dpo-steps", "2",
                                                          "--step-seconds", "0.05", "--run-dir", str(tmp_path)))
    job = JobRunner(bus).start(spec)
    events = []
    while not events or not isinstance(events[-1], JobFinished):
        events.extend(subscription.drain(timeout=5))
    assert job.wait(10) == 0
    worded = [line for event in events for line in lines_for(event)]
    logged = (tmp_path / LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert logged == worded  # what the panel and the CLI print is run.log, line for line
    assert_in_order(logged, [
        r"^\[runner\] .* launched pid \d+$", r"^base model: fake-135M.gguf \(GGUF file.*, 93 MB\) from /models$",
        r"^backend: PEFT \+ TRL LoRA on the CPU \(no CUDA GPU", r"^loaded in 0\.1s: 135\.0M parameters, 30 layers$",
        r"^LoRA r 8, alpha 16 on 2 projections of the top 8 of 30 layers: 651\.3K trainable parameters \(0\.48%",
        r"^dataset /data/sample: 12 train examples \(1 trimmed", r"^tokens: 2,400 in the train split, 600 of them "
        r"targets; packed into 10 rows of up to 256 tokens \(1\.20 examples per row\)$",
        r"^plan: 5 SFT steps = 1\.00 epochs at effective batch 2", r"^evaluation every 2 steps and at the end on 4 "
        r"examples; .*; then DPO, 2 steps$", r"^SFT: steps 1-5$", r"^sft step 1 done$", r"^SFT 1/5 · epoch 0\.10 · "
        r"loss 3\.0000 · lr 1\.00e-03 · grad 0\.5 · 101 tok/s · RAM 1\.0 GiB · .* · ETA estimating$",
        r"^evaluating at step 2 on 4 validation examples…$", r"^eval at step 2: loss 1\.7500 \(best so far\)",
        r"^SFT 5/5 ", r"^SFT done in 1\.0s: step 5, loss 3\.0000 → 0\.6000$",
        r"^adapter saved after SFT: .*adapter \(5\.6 MB\)$", r"^DPO: 2 steps on 11 preference pairs",
        r"^DPO 1/2 · .* · margin \+0\.0100 · acc 50%", r"^DPO 2/2 ", r"^DPO done in 1\.0s: 2 steps",
        r"^finished in 2\.0s: 5 SFT steps, 2,400 tokens trained, loss 3\.0000 → 0\.6000; adapter: ",
        r"^\[runner\] .* finished$"])
    replayed = [line for event in read_metrics(tmp_path) for line in lines_for(event)]  # a reopened run's words
    assert [line for line in replayed if not line.startswith("[runner]")] == [
        line for line in logged if not line.startswith(("[runner]", "sft step", "dpo step"))]


@pytest.mark.parametrize("event", [JobStarted(name="embed", backend="sentence-transformers", device="cpu",
                                              total_steps=500, details={"model": "all-MiniLM-L6-v2"}),
                                   ProgressReported(step=3, total=9, message="42 embedded")])
def test_light_jobs_get_a_started_line_and_no_line_per_tick(event):
    lines = lines_for(event)
    if isinstance(event, JobStarted):
        assert lines == ["embed started: sentence-transformers on cpu, 500 steps (model all-MiniLM-L6-v2)"]
    else:
        assert lines == []  # a progress tick without a phase (import, prepare, fetch) is the bar's, not the log's
