"""Training run folders written the way a run writes them, without training: for the comparison, the Models page's
compare view and the tray's notices.

The dataset is the shipped sample server imported and prepared for real (``stats.json`` as ``prepare`` writes it);
each run is planned by ``core.training.launch.plan_new_run`` (config.json with the preset's knobs, the base model,
the dataset folder) and its events go through ``core.jobs.runs.RunRecorder``, the class that writes metrics.jsonl
and state.json for a real run, as ``JobStarted``/``ProgressReported``/``EvalReported``/``CheckpointSaved`` and an
ending event like the train worker's.
"""
from __future__ import annotations

import math
import random
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from core.jobs.events import (CheckpointSaved, EvalReported, JobFailed, JobFinished, JobLaunched, JobStarted,
                              ProgressReported)
from core.jobs.runs import RunRecorder

TIME_ZERO = 1_796_684_000.0  # the recorded wall clock of the first event (December 2026)


def prepare_sample(workspace) -> Path:
    """The sample server imported and prepared into WORKSPACE/datasets/sample-server; returns the folder."""
    from core.config.app_config import load_config
    from core.config.resources import asset
    from core.dataset.pipeline import prepare_dataset
    from core.dataset.writer import set_latest
    from core.ingest.importer import import_paths
    folder = workspace.datasets_dir / "sample-server"
    with closing(workspace.connect()) as conn:
        import_paths(conn, [asset("sample_server", "export")])
        prepare_dataset(conn, load_config(workspace.config_path).dataset, folder)
    set_latest(workspace.datasets_dir, folder)
    return folder


def loss_at(step: int, start: float, floor: float) -> float:
    """A plausible falling loss: exponential decay towards ``floor`` with the same small noise for the same step."""
    noise = random.Random(step * 7919 + round(start * 100)).uniform(-0.06, 0.06)
    return round(floor + (start - floor) * math.exp(-step / 18) + noise, 4)


def record_run(workspace, data_dir: Path, *, flags: dict, steps: int, start: float = 3.4, floor: float = 1.8,
               eval_every: int = 10, tokens_per_second: float = 900.0, ending: str = "finished",
               failure: str = "", seconds_per_step: float = 1.5) -> Path:
    """A planned run whose worker "ran" ``steps`` steps and ended as ``ending`` (finished, stopped or failed)."""
    from core.training.launch import plan_new_run
    planned = plan_new_run(workspace, data=data_dir, preset="cpu-tiny", flags=flags)
    recorder = RunRecorder(planned.run_dir)
    clock = [TIME_ZERO]

    def record(event) -> None:  # as the runner does: its job id stamped, the wall clock moving on
        clock[0] += seconds_per_step
        recorder.record(replace(event, job_id="train-1", time=clock[0]))

    record(JobLaunched(name="train", pid=0, run_dir=str(planned.run_dir)))
    record(ProgressReported(step=0, elapsed=4.0, message="loading SmolLM2-135M-Instruct (peft, cpu)"))
    record(JobStarted(name="train", backend="peft", device="cpu", total_steps=flags.get("max_steps", steps),
                      details={"precision": "bf16", "packing": True, "examples": 1140}))
    total = flags.get("max_steps", steps)
    for step in range(1, steps + 1):
        elapsed = 6.0 + step * seconds_per_step
        record(ProgressReported(step=step, total=total, loss=loss_at(step, start, floor), learning_rate=2e-4,
                                tokens_per_second=tokens_per_second + (step % 3) * 10, tokens=step * 900,
                                elapsed=elapsed, message="sft"))
        if step % eval_every == 0:
            record(EvalReported(step=step, eval_loss=round(loss_at(step, start, floor) + 0.15, 4)))
        if step % 20 == 0 or (ending == "stopped" and step == steps):
            record(CheckpointSaved(step=step, path=str(planned.run_dir / "checkpoints" / f"checkpoint-{step}")))
            (planned.run_dir / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
            (planned.run_dir / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    seconds = round(6.0 + steps * seconds_per_step, 1)
    final = loss_at(steps, start, floor)
    if ending == "failed":
        record(JobFailed(message=failure or "CUDA out of memory", advice="lower the batch size",
                         last_lines=("Traceback (most recent call last):", failure), exit_code=1))
    else:
        result = {"step": steps, "backend": "peft", "device": "cpu", "final_loss": final, "examples": 1140,
                  "status": ending}
        record(JobFinished(status=ending, step=steps, result=result, seconds=seconds))
    recorder.close()
    return planned.run_dir
