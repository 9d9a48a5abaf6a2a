"""Run folders: one per training run under ``workspace.runs_dir``, the record a restarted app reads back.

Layout (the export and evaluation workers build on it)::

    runs/<run_id>/config.json     snapshot written before launch: training config, base model, data dir, backend
                  state.json      status (created/running/stopped/finished/failed), last step, last checkpoint, pid
                  run.log         every line the worker printed, every event in words (``core.jobs.log_lines``:
                                  the same text the panel and the command line show), the runner's own notes
                  metrics.jsonl   one event per line (started, phases, progress, eval, checkpoint, finished/failed),
                                  each with its wall-clock "time"; appended by the app, so a resumed run continues
                                  the curve
                  checkpoints/checkpoint-<step>/   resumable trainer checkpoints (checkpoints/dpo/: DPO scratch)
                  adapter/        the final LoRA adapter and tokenizer files
                  STOP            present while a stop is requested (the worker checks it between steps)

state.json is written by the app (the ``RunRecorder``), never by the worker, so it is right even when the worker
crashed. A run whose state says "running" but whose worker pid is gone is reported as "interrupted".
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.jobs.events import (CheckpointSaved, Event, EvalReported, JobFailed, JobFinished, JobLaunched, JobStarted,
                              JobStateChanged, LogLine, PhaseFinished, PhaseStarted, ProgressReported, from_dict,
                              to_dict)
from core.jobs.log_lines import lines_for
from core.config.secrets import redact
from core.config.workspace import atomic_write_text

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
LOG_FILE = "run.log"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
STATE_WRITE_SECONDS = 5.0  # progress updates state.json at most this often (checkpoints and endings at once)
METRIC_EVENTS = (JobStarted, ProgressReported, EvalReported, CheckpointSaved, PhaseStarted, PhaseFinished,
                 JobFinished, JobFailed)


class RunNotFound(LookupError):
    """No run matches what the user typed; the message lists what exists."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    run_dir: Path
    status: str
    step: int | None
    total_steps: int | None
    created_at: str | None
    updated_at: str | None
    backend: str | None
    base_model: str | None
    final_loss: float | None
    last_checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in self.__dict__.items()}


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(kind: str = "train") -> str:
    """Sortable and unique: ``20261124-093012-train-1a2b``."""
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(2)}"


def create_run(runs_dir: Path, snapshot: dict[str, Any], kind: str = "train") -> Path:
    """A new run folder with its config snapshot and a "created" state, both written before any launch."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = runs_dir / new_run_id(kind)
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            continue
    snapshot = {"run_id": run_dir.name, "created_at": now_iso(), **snapshot}
    atomic_write_text(run_dir / CONFIG_FILE, json.dumps(snapshot, indent=2, ensure_ascii=False, default=str))
    write_state(run_dir, status="created", created_at=snapshot["created_at"])
    return run_dir


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_config(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / CONFIG_FILE)


def read_state(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / STATE_FILE)


def write_state(run_dir: Path, **changes: Any) -> dict[str, Any]:
    state = {**read_state(run_dir), **changes, "updated_at": now_iso()}
    atomic_write_text(run_dir / STATE_FILE, json.dumps(state, indent=2, ensure_ascii=False, default=str))
    return state


def effective_status(state: dict[str, Any]) -> str:
    status = state.get("status", "unknown")
    if status in ("running", "stopping") and not _alive(state.get("pid")):
        return "interrupted"
    return status


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest step first (a folder without trainer_state.json was cut short)."""
    folder = run_dir / CHECKPOINTS_DIR
    found = [path for path in folder.glob("checkpoint-*")
             if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").exists()]
    return sorted(found, key=lambda path: int(path.name.split("-")[-1]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


def run_info(run_dir: Path) -> RunInfo:
    config, state = read_config(run_dir), read_state(run_dir)
    base = config.get("base_model") or {}
    return RunInfo(run_id=run_dir.name, run_dir=run_dir, status=effective_status(state), step=state.get("step"),
                   total_steps=state.get("total_steps"), created_at=config.get("created_at") or state.get("created_at"),
                   updated_at=state.get("updated_at"), backend=state.get("backend") or config.get("backend"),
                   base_model=base.get("source") if isinstance(base, dict) else None,
                   final_loss=state.get("loss"), last_checkpoint=state.get("last_checkpoint"))


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run folder (one with a config.json), newest first."""
    if not runs_dir.exists():
        return []
    folders = [path for path in runs_dir.iterdir() if (path / CONFIG_FILE).exists()]
    return [run_info(path) for path in sorted(folders, key=lambda path: path.name, reverse=True)]


def find_run(runs_dir: Path, reference: str) -> Path:
    """A run folder by id, unique id prefix, "latest", or path."""
    candidate = Path(reference).expanduser()
    if (candidate / CONFIG_FILE).exists():
        return candidate.resolve()
    names = sorted((path.name for path in runs_dir.iterdir() if (path / CONFIG_FILE).exists()),
                   reverse=True) if runs_dir.exists() else []
    if reference == "latest" and names:
        return runs_dir / names[0]
    matches = [name for name in names if name == reference] or [name for name in names if name.startswith(reference)]
    if len(matches) == 1:
        return runs_dir / matches[0]
    if not matches:
        known = ", ".join(names[:5]) or "none yet"
        raise RunNotFound(f"no run '{reference}' in {runs_dir} (recent: {known})")
    raise RunNotFound(f"'{reference}' matches several runs ({', '.join(matches[:5])}); give more of the id")


def newest_export(runs_dir: Path) -> Path | None:
    """The most recently written GGUF of any run's export folder (what the bot and the playground use by default)."""
    found = [path for path in runs_dir.glob("*/export/*.gguf") if path.is_file()] if runs_dir.is_dir() else []
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def read_metrics(run_dir: Path) -> list[Event]:
    """The run's recorded events in order, for replaying a curve. Steps redone after a crash and resume keep only
    their latest record; unreadable lines (a crash mid-write) are skipped."""
    events: list[Event] = []
    path = run_dir / METRICS_FILE
    if not path.exists():
        return events
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                events.append(from_dict(json.loads(line)))
            except (ValueError, TypeError):
                continue
    def key(event: ProgressReported):
        return event.stage or event.message, event.step  # a stage ("sft", "dpo") counts its own steps

    latest_index = {key(event): index for index, event in enumerate(events) if isinstance(event, ProgressReported)}
    return [event for index, event in enumerate(events)
            if not isinstance(event, ProgressReported) or latest_index[key(event)] == index]


class RunRecorder:
    """Writes a job's events into its run folder as they arrive (called from the runner's reader threads)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._log = (run_dir / LOG_FILE).open("a", encoding="utf-8", errors="replace")
        self._metrics = (run_dir / METRICS_FILE).open("a", encoding="utf-8")
        self._last_state_write = 0.0
        self._pending_state: dict[str, Any] = {}

    def record(self, event: Event) -> None:
        """Append ``event`` to run.log or metrics.jsonl (and state.json), redacted: a worker that prints the bot
        token (a library's error message, a traceback) must not put it in a file."""
        with self._lock:
            if self._log.closed:
                return
            for line in lines_for(event):  # the worker's own lines, and every event worded (core.jobs.log_lines)
                self._write_log(line)
            if isinstance(event, LogLine):
                return
            if isinstance(event, METRIC_EVENTS):
                line = {"time": round(event.time, 3), **to_dict(event)}
                line["time"] = round(event.time, 3)
                line.pop("job_id", None)
                self._metrics.write(redact(json.dumps(line, ensure_ascii=False, default=str)) + "\n")
                self._metrics.flush()
            self._update_state(event)

    def _write_log(self, text: str) -> None:
        self._log.write(redact(text) + "\n")
        self._log.flush()

    def _update_state(self, event: Event) -> None:
        changes: dict[str, Any] = {}
        urgent = True
        if isinstance(event, JobLaunched):
            changes = {"status": "running", "pid": event.pid, "launched_at": now_iso(), "message": None}
        elif isinstance(event, JobStarted):
            changes = {"backend": event.backend, "device": event.device, "total_steps": event.total_steps}
        elif isinstance(event, JobStateChanged) and event.state == "stopping":
            changes = {"status": "stopping"}  # a restarted app shows "interrupted" if the worker died meanwhile
        elif isinstance(event, ProgressReported):
            changes, urgent = _progress_state(event), False
        elif isinstance(event, CheckpointSaved):
            changes = {"step": event.step, "last_checkpoint": event.path}
        elif isinstance(event, JobFinished):
            changes = {"status": event.status, "ended_at": now_iso()}
            if event.step is not None:
                changes["step"] = event.step
        elif isinstance(event, JobFailed):
            changes = {"status": "failed", "ended_at": now_iso(), "message": event.message, "advice": event.advice}
        self._pending_state.update({key: redact(value) if isinstance(value, str) else value
                                    for key, value in changes.items()})
        now = time.monotonic()
        if self._pending_state and (urgent or now - self._last_state_write >= STATE_WRITE_SECONDS):
            write_state(self.run_dir, **self._pending_state)
            self._pending_state.clear()
            self._last_state_write = now

    def close(self) -> None:
        with self._lock:
            if self._pending_state:
                write_state(self.run_dir, **self._pending_state)
                self._pending_state.clear()
            self._log.close()
            self._metrics.close()


def _progress_state(event: ProgressReported) -> dict[str, Any]:
    if event.is_phase:
        return {"phase": event.message}  # loading, downloading
    if event.stage not in ("", "sft"):
        return {"stage": event.stage}  # a later stage (dpo): step and loss stay the SFT run's, for resume
    changes: dict[str, Any] = {"step": event.step, "total_steps": event.total, "stage": "sft", "phase": "training"}
    if event.loss is not None:
        changes["loss"] = event.loss
    return changes
