"""The events and requests that flow between jobs, the job runner, the CLI and the GUI.

Events are small frozen dataclasses named in the past tense (something happened); requests are imperative (please do
something). Workers send events over the wire protocol (``core.jobs.wire``) without a ``job_id``; the job runner stamps
the id of the job they came from. Every class is registered under a short wire name so the protocol and
``metrics.jsonl`` can carry them as plain JSON objects and a restarted app can rebuild them.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    job_id: str = ""


@dataclass(frozen=True)
class JobLaunched(Event):
    """The runner started the worker process (before it has loaded anything)."""
    name: str = ""
    pid: int = 0
    run_dir: str | None = None


@dataclass(frozen=True)
class JobStarted(Event):
    """The worker is set up and about to do its work; says how (backend, device) and how much (total steps)."""
    name: str = ""
    backend: str = ""
    device: str = ""
    total_steps: int | None = None
    resumed_from_step: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine(Event):
    """A human line from the worker (stdout or stderr), or a marker line that could not be parsed."""
    text: str = ""
    stream: str = "stdout"


@dataclass(frozen=True)
class ProgressReported(Event):
    """One training (or other) step done. ``eta`` is None while the runner is still estimating."""
    step: int = 0
    total: int | None = None
    epoch: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    tokens: int | None = None        # real (non-padding) tokens trained since this process started
    elapsed: float | None = None
    eta: float | None = None
    vram_used: float | None = None   # GiB currently allocated by torch (None on CPU)
    vram_peak: float | None = None   # GiB peak since the worker started
    message: str = ""                # the stage ("sft", "dpo"), or a phase of work without steps ("loading model")

    @property
    def is_phase(self) -> bool:
        """A phase announcement (loading, downloading) rather than a finished step."""
        return self.step == 0 and self.loss is None


@dataclass(frozen=True)
class EvalReported(Event):
    step: int = 0
    eval_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved(Event):
    step: int = 0
    path: str = ""


@dataclass(frozen=True)
class JobFinished(Event):
    """The job ended without error: ``status`` is "finished", or "stopped" when a stop was honoured."""
    status: str = "finished"
    step: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None


@dataclass(frozen=True)
class JobFailed(Event):
    """The job ended with an error. ``message`` says what, ``advice`` what to change, ``last_lines`` the context."""
    message: str = ""
    advice: str = ""
    last_lines: tuple[str, ...] = ()
    exit_code: int | None = None


@dataclass(frozen=True)
class StopJob(Event):
    """Request: stop the job cooperatively (save at the next step boundary), escalating after grace periods."""


@dataclass(frozen=True)
class KillJob(Event):
    """Request: end the job now, without waiting for it to save."""


WIRE_NAMES: dict[str, type[Event]] = {
    "launched": JobLaunched,
    "started": JobStarted,
    "log": LogLine,
    "progress": ProgressReported,
    "eval": EvalReported,
    "checkpoint": CheckpointSaved,
    "finished": JobFinished,
    "failed": JobFailed,
    "stop": StopJob,
    "kill": KillJob,
}
NAME_OF = {cls: name for name, cls in WIRE_NAMES.items()}
ENDING_EVENTS = (JobFinished, JobFailed)


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict: ``{"event": wire name, ...fields}``; None values and an empty job id are left out, which
    keeps ``metrics.jsonl`` lines short (``from_dict`` fills the defaults back in)."""
    data = {"event": NAME_OF[type(event)]}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if value is None or (item.name == "job_id" and not value):
            continue
        data[item.name] = list(value) if isinstance(value, tuple) else value
    return data


def from_dict(data: dict[str, Any]) -> Event:
    """The event described by ``data``; raises ValueError for an unknown name or fields of the wrong kind.

    Unknown fields are ignored, so an older app can read a newer worker's events.
    """
    name = data.get("event")
    cls = WIRE_NAMES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown event {name!r}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in hints:
            continue
        if key == "last_lines" and isinstance(value, list):
            value = tuple(str(line) for line in value)
        if not _fits(hints[key], value):
            raise ValueError(f"event {name!r}: field {key!r} has an unexpected value {value!r}")
        values[key] = value
    return cls(**values)


def _fits(hint, value) -> bool:
    """Whether ``value`` (decoded JSON) fits the field's type hint; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(option, value) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if isinstance(value, bool) and hint in (int, float):
        return False
    if hint is float:
        return isinstance(value, (int, float))
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint)
