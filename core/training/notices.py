"""What the tray says when a training run ends: how it ended, which run, its steps and final loss, or the one-line
reason it failed ("Training finished: Wren run 20261124-093012-train-1a2b, 300 steps, final loss 1.84").

Plain functions over the ending event (``JobFinished``/``JobFailed``) and the run folder's small files (config.json,
state.json, the dataset's stats.json; never metrics.jsonl, so the Tk thread may call them), so the wording is tested
without a tray. A notice never shows a secret: the reason goes through the same redaction as the run's log.
"""
from __future__ import annotations

import re
from pathlib import Path

from core.config.secrets import redact
from core.jobs import runs
from core.jobs.events import JobFailed, JobFinished
from core.training.compare import dataset_stats, persona_names

MAX_REASON = 140   # characters of a failure's reason; the rest is in the run's log
MAX_PERSONAS = 2   # named in the title; more are counted ("Wren, Bolt and 4 more")


def run_title(run_dir: Path) -> str:
    """``"Wren run 2026…"``: the personas the run learned (from its dataset) and the run id."""
    names = persona_names(dataset_stats(runs.read_config(run_dir).get("data_dir")))
    if not names:
        return f"run {run_dir.name}"
    if len(names) <= MAX_PERSONAS:
        who = " & ".join(names)
    else:
        who = f"{', '.join(names[:MAX_PERSONAS])} and {len(names) - MAX_PERSONAS} more"
    return f"{who} run {run_dir.name}"


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """The first line that says something, spaces collapsed, cut at ``limit`` with "…", secrets redacted."""
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), "no reason given")
    line = redact(re.sub(r"\s+", " ", line))
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def saved_note(run_dir: Path, step: int | None) -> str:
    checkpoint = runs.latest_checkpoint(run_dir)
    if checkpoint is None:
        return "not saved: no checkpoint, start it again"
    saved = int(checkpoint.name.split("-")[-1])
    return "saved" if step is None or saved >= step else f"saved at step {saved}"


def training_notice(ending, run_dir: Path) -> str:
    """The notice for a training run's ending event."""
    if isinstance(ending, JobFailed):
        return f"Training failed: {one_line(ending.message)}"
    if not isinstance(ending, JobFinished):
        raise TypeError(f"not an ending event: {ending!r}")
    state = runs.read_state(run_dir)
    step = ending.step if ending.step is not None else ending.result.get("step", state.get("step"))
    if ending.status == "stopped":
        return f"Training stopped at step {step if step is not None else '?'} ({saved_note(run_dir, step)}): " \
               f"{run_title(run_dir)}"
    loss = ending.result.get("final_loss", state.get("loss"))
    parts = [f"Training finished: {run_title(run_dir)}"]
    if step is not None:
        parts.append(f"{step} steps")
    if isinstance(loss, (int, float)):
        parts.append(f"final loss {loss:.2f}")
    return ", ".join(parts)
