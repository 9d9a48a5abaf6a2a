"""The human log of a job, worded from its events: one pure function, ``lines_for(event)``, used by the run recorder
(run.log), the panel's log boxes and the command line, so the three say the same thing in the same words.

A training run reads like a shorter Hugging Face or Unsloth log: the backend and why, the base model, the dataset
(examples, tokens, packing), the trainable parameters, the plan (effective batch, steps, epochs), one line per
logged step, evaluations, checkpoints saved and pruned, the DPO pass, a stop and where it saved, the adapter's path
and a closing summary. Export, evaluation and embedding jobs word their phases the same way (``log_phases``).
Events without anything to tell (a state change, a progress tick of a light job) give no line. Nothing here reads
the clock or the disk: a run replayed from metrics.jsonl words the same lines it did live.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from core.jobs import log_phases
from core.jobs.eta import format_eta
from core.jobs.events import (CheckpointSaved, EvalReported, Event, JobFailed, JobFinished, JobLaunched, JobStarted,
                              LogLine, PhaseFinished, PhaseStarted, ProgressReported)
from core.jobs.log_words import count, counted, duration, memory_text, number, phase_label, short_path

RUNNER_PREFIX = "[runner] "


def lines_for(event: Event) -> list[str]:
    """What ``event`` adds to the job's log, as lines (none for events a person need not read)."""
    writer = WRITERS.get(type(event))
    return writer(event) if writer is not None else []


def log_line(event: LogLine) -> list[str]:
    return [f"{RUNNER_PREFIX}{event.text}" if event.stream == "runner" else event.text]


def _stamp(event: Event) -> str:
    return dt.datetime.fromtimestamp(event.time, dt.timezone.utc).isoformat(timespec="seconds")


def launched(event: JobLaunched) -> list[str]:
    return [f"{RUNNER_PREFIX}{_stamp(event)} launched pid {event.pid}"]


def finished(event: JobFinished) -> list[str]:
    return [f"{RUNNER_PREFIX}{_stamp(event)} {event.status}"]


def failed(event: JobFailed) -> list[str]:
    advice = f" | {event.advice}" if event.advice else ""
    return [f"{RUNNER_PREFIX}{_stamp(event)} failed: {event.message}{advice}"]


def started(event: JobStarted) -> list[str]:
    if event.name == "train":
        return log_phases.training_plan(event)
    extra = ", ".join(f"{key} {value}" for key, value in event.details.items()
                      if isinstance(value, (str, int, float)) and not isinstance(value, bool))
    steps = f", {counted(event.total_steps, 'step')}" if event.total_steps else ""
    return [f"{event.name} started: {event.backend} on {event.device}{steps}" + (f" ({extra})" if extra else "")]


def progress(event: ProgressReported) -> list[str]:
    """One line per step of a phase; a phase's announcement (downloading...) as it is; light jobs' ticks: none."""
    stage = event.stage
    if event.is_phase:
        return [event.message] if stage and event.message else []
    if not stage:
        return []
    parts = [f"{phase_label(stage)} {count(event.step)}/{count(event.total) if event.total else '?'}"]
    if event.epoch is not None:
        parts.append(f"epoch {event.epoch:.2f}")
    if event.loss is not None:
        parts.append(f"loss {event.loss:.4f}")
    if event.reward_margin is not None:
        parts.append(f"margin {event.reward_margin:+.4f}")
    if event.reward_accuracy is not None:
        parts.append(f"acc {event.reward_accuracy:.0%}")
    if event.learning_rate is not None:
        parts.append(f"lr {event.learning_rate:.2e}")
    if event.grad_norm is not None:
        parts.append(f"grad {event.grad_norm:.3g}")
    if event.tokens_per_second:
        parts.append(f"{event.tokens_per_second:,.0f} tok/s")
    if event.message and stage not in ("sft", "dpo"):
        parts.append(event.message)
    memory = memory_text(event)
    if memory:
        parts.append(memory)
    if event.elapsed is not None:
        parts.append(duration(event.elapsed))
    parts.append(eta_text(event))
    return [" · ".join(parts)]


def eta_text(event: ProgressReported) -> str:
    """"ETA 1m 05s (run 2m 10s)": this phase's time left, and the whole run's where it differs."""
    text = f"ETA {format_eta(event.eta)}"
    if event.run_eta is not None and event.eta is not None and round(event.run_eta) > round(event.eta):
        text += f" (run {format_eta(event.run_eta)})"
    return text


def status_text(event: ProgressReported) -> str:
    """A status line for a progress bar: "SFT 10/20 · 50% · ETA 1m 05s (run 2m 10s) · 118 tok/s · RAM 1.8 GiB"."""
    label = f"{phase_label(event.stage)} " if event.stage else ""
    total = event.total
    parts = [f"{label}{count(event.step)}/{count(total)}" if total else f"{label}{count(event.step)}"]
    if total:
        parts.append(f"{event.step / total:.0%}")
    parts.append(eta_text(event))
    if event.tokens_per_second:
        parts.append(f"{event.tokens_per_second:,.0f} tok/s")
    memory = memory_text(event)
    if memory:
        parts.append(memory)
    return " · ".join(parts)


def evaluated(event: EvalReported) -> list[str]:
    if event.eval_loss is None:
        return []
    parts = [f"eval at step {count(event.step)}: loss {event.eval_loss:.4f}"]
    if event.best_loss is not None:
        parts[0] += " (best so far)" if event.best_loss >= event.eval_loss else f" (best {event.best_loss:.4f})"
    accuracy = event.metrics.get("eval_mean_token_accuracy")
    if isinstance(accuracy, (int, float)):
        parts.append(f"token accuracy {accuracy:.1%}")
    runtime = event.metrics.get("eval_runtime")
    examples = f"{counted(event.examples, 'example')}" if event.examples else ""
    if examples or isinstance(runtime, (int, float)):
        took = f" in {duration(runtime)}" if isinstance(runtime, (int, float)) else ""
        parts.append(f"{examples or 'evaluated'}{took}")
    return [" · ".join(parts)]


def checkpoint(event: CheckpointSaved) -> list[str]:
    line = f"checkpoint saved at step {count(event.step)}: {short_path(event.path, 2)}"
    if event.pruned:
        line += f" (deleted {', '.join(short_path(path, 1) for path in event.pruned)} to keep the newest)"
    return [line]


def phase_started(event: PhaseStarted) -> list[str]:
    return log_phases.started(event)


def phase_finished(event: PhaseFinished) -> list[str]:
    return log_phases.finished(event)


WRITERS: dict[type, Callable[[Event], list[str]]] = {
    LogLine: log_line, JobLaunched: launched, JobFinished: finished, JobFailed: failed, JobStarted: started,
    ProgressReported: progress, EvalReported: evaluated, CheckpointSaved: checkpoint,
    PhaseStarted: phase_started, PhaseFinished: phase_finished,
}
__all__ = ["lines_for", "status_text", "eta_text", "number"]
