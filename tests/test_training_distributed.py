"""Data-parallel training for real, on the CPU: two worker processes (gloo) started through Accelerate's launcher by
the job runner, training SmolLM2-135M on a few examples of the shipped sample server.

One run, shared by the tests: two processes, stopped after a step by a stop request on stdin alone (only rank 0
reads it, so reaching rank 1 is the ranks' agreement at the step boundary, not the STOP file), then resumed by one
process through the CLI (``train --resume RUN --gpus 1``) to the end. The stopped half and the resumed half are
compared: the same kinds of events, each step and each phase once (rank 1 says nothing), each phase's line once in
run.log, the same checkpoint layout. About a minute or two on 2 idle CPUs.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from core.jobs import runs
from core.jobs.bus import EventBus
from core.jobs.events import (CheckpointSaved, EvalReported, JobFailed, JobFinished, JobStarted, PhaseFinished,
                              PhaseStarted, ProgressReported, StopJob)
from core.jobs.log_lines import lines_for
from core.jobs.runner import JobRunner
from core.training.launch import plan_new_run, training_job
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.name == "nt", reason="several processes are Linux-only (core.training.processes)")]
TOTAL_STEPS = 4
RNG_FILES = {"rng_state.pth", "rng_state_0.pth", "rng_state_1.pth"}  # per rank: the Trainer's own layout


@pytest.fixture(scope="module")
def two_then_one(tmp_path_factory):
    from core.config.resources import ResourceMissing, asset, default_base_model
    from core.config.workspace import Workspace
    try:
        default_base_model()
    except ResourceMissing as exc:
        pytest.skip(str(exc))
    workspace = Workspace.open(tmp_path_factory.mktemp("ddp") / "ws")
    assert run_cli("import", str(asset("sample_server", "export")), "--json", workspace=workspace)[0] == 0
    code, out, err = run_cli("prepare", "--json", workspace=workspace)
    assert code == 0, err
    data = first_lines(Path(json.loads(out)["out"]), workspace.root / "subset", train=8, val=2)
    workspace.config_path.write_text("[training]\nsave_steps = 100\ndpo = false\nmax_eval_examples = 2\n",
                                     encoding="utf-8")
    planned = plan_new_run(workspace, data=data, preset="cpu-tiny", flags={"max_steps": TOTAL_STEPS}, processes=2)
    assert planned.processes == 2 and "accelerate.commands.launch" in training_job(planned).argv
    bus = EventBus()
    subscription = bus.subscribe("test")
    job = JobRunner(bus).start(training_job(planned))
    first = follow(subscription, job)
    assert job.wait(120) == 0
    first_log = (planned.run_dir / runs.LOG_FILE).read_text(encoding="utf-8")  # before the resumed half appends
    code, out, err = run_cli("train", "--resume", planned.run_id, "--gpus", "1", "--json", workspace=workspace)
    assert code == 0, err
    replay = runs.read_metrics(planned.run_dir)
    second = replay[[index for index, event in enumerate(replay) if isinstance(event, JobStarted)][1]:]
    return {"run_dir": planned.run_dir, "first": first, "first_log": first_log, "second": second,
            "summary": json.loads(out)}


def first_lines(prepared: Path, folder: Path, *, train: int, val: int) -> Path:
    folder.mkdir()
    for name, count in (("train.jsonl", train), ("val.jsonl", val)):
        lines = (prepared / name).read_text(encoding="utf-8").splitlines(keepends=True)[:count]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


def follow(subscription, job, timeout: float = 600) -> list:
    """The job's events; after the first step, a StopJob on its stdin (no STOP file: that would reach every rank)."""
    events, asked, deadline = [], False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in subscription.drain(timeout=0.5):
            events.append(event)
            if isinstance(event, ProgressReported) and event.loss is not None and not asked:
                job.send_request(StopJob(job_id=job.id))
                asked = True
            if isinstance(event, (JobFinished, JobFailed)):
                return events
    raise AssertionError(f"no ending within {timeout}s: {events[-5:]}")


def worker_events(events: list) -> list:
    kinds = (JobStarted, PhaseStarted, PhaseFinished, ProgressReported, EvalReported, CheckpointSaved, JobFinished,
             JobFailed)
    return [event for event in events if isinstance(event, kinds)]


def steps_of(events: list) -> list[int]:
    return [event.step for event in events if isinstance(event, ProgressReported) and event.loss is not None]


def test_two_processes_report_once_and_stop_together_with_one_checkpoint(two_then_one):
    events = worker_events(two_then_one["first"])
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "stopped", ending
    assert 1 <= ending.step < TOTAL_STEPS
    started = [event for event in events if isinstance(event, JobStarted)]
    assert len(started) == 1 and started[0].details["processes"] == 2 and started[0].total_steps == TOTAL_STEPS
    assert started[0].details["effective_batch"] == 2 * 2  # per_device_batch_size 2 x accumulation 1 x 2 processes
    assert steps_of(events) == list(range(1, ending.step + 1))  # each step once: rank 1 emits nothing
    phases = Counter((type(event).__name__, event.phase) for event in events
                     if isinstance(event, (PhaseStarted, PhaseFinished)))
    assert {("PhaseStarted", "load"), ("PhaseFinished", "data"), ("PhaseFinished", "sft"),
            ("PhaseFinished", "run")} <= set(phases), phases
    assert set(phases.values()) == {1}, phases  # each phase once: rank 1 loads, reads and trains too, silently
    assert [(event.step, Path(event.path).name) for event in events if isinstance(event, CheckpointSaved)] == [
        (ending.step, f"checkpoint-{ending.step}")]
    assert [path.name for path in runs.checkpoints(two_then_one["run_dir"])][0] == f"checkpoint-{ending.step}"


def test_one_process_resumes_a_two_process_checkpoint_to_the_end(two_then_one):
    run_dir, stopped_at = two_then_one["run_dir"], worker_events(two_then_one["first"])[-1].step
    second = two_then_one["second"]
    assert second[0].resumed_from_step == stopped_at and second[0].details["processes"] == 1
    assert steps_of(second) == list(range(stopped_at + 1, TOTAL_STEPS + 1))
    curve = steps_of([event for event in runs.read_metrics(run_dir) if getattr(event, "message", "") == "sft"])
    assert curve == list(range(1, TOTAL_STEPS + 1))  # one curve across the two halves: no restart, no gap
    summary = two_then_one["summary"]
    assert summary["status"] == "finished" and summary["steps"] == TOTAL_STEPS and summary["eval_loss"] is not None
    assert (run_dir / runs.ADAPTER_DIR / "adapter_model.safetensors").exists()
    assert runs.read_config(run_dir)["processes"] == 1 and runs.read_state(run_dir)["status"] == "finished"


def test_the_halves_give_the_same_kinds_of_events_and_checkpoint_layout(two_then_one):
    first, second = worker_events(two_then_one["first"]), two_then_one["second"]
    kinds = {type(event).__name__ for event in first}
    assert kinds <= {type(event).__name__ for event in second}  # the resumed half adds the final EvalReported
    for half in (first, second):
        progress = [event for event in half if isinstance(event, ProgressReported) and event.loss is not None]
        assert all(event.tokens and event.tokens_per_second and event.learning_rate is not None for event in progress)
    two, one = (runs.checkpoints(two_then_one["run_dir"])[index] for index in (0, -1))
    assert one.name == f"checkpoint-{TOTAL_STEPS}"
    files = {path: {item.name for item in path.iterdir()} for path in (two, one)}
    assert files[two] - RNG_FILES == files[one] - RNG_FILES
    assert files[two] & RNG_FILES == {"rng_state_0.pth", "rng_state_1.pth"} and files[one] & RNG_FILES == {
        "rng_state.pth"}
    state = json.loads((two / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == worker_events(two_then_one["first"])[-1].step


def test_run_log_has_each_phase_line_once(two_then_one):
    """run.log is written from rank 0's events alone: the plan and each phase's words appear once, not per rank
    (rank 1's own stderr still passes through)."""
    log = two_then_one["first_log"].splitlines()
    worded = [line for event in worker_events(two_then_one["first"])
              if isinstance(event, (JobStarted, PhaseStarted, PhaseFinished)) for line in lines_for(event)]
    assert len(worded) >= 6 and any(line.startswith("plan: ") for line in worded), worded
    assert any("× 2 processes" in line for line in worded), worded  # the plan's effective batch counts both ranks
    assert {line: log.count(line) for line in worded} == {line: 1 for line in worded}
