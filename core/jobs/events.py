"""The events and requests that flow between jobs, the job runner, the CLI and the GUI.

Events are small frozen dataclasses named in the past tense (something happened); requests are imperative (please do
something). Workers send events over the wire protocol (``core.jobs.wire``) without a ``job_id``; the job runner stamps
the id of the job they came from. Every class is registered under a short wire name so the protocol and
``metrics.jsonl`` can carry them as plain JSON objects and a restarted app can rebuild them.

Events and requests live in two registries: ``from_dict`` (what the worker -> runner parser uses) only ever builds
events, ``request_from_dict`` (the runner -> worker direction) only requests, so a worker that prints a request line
cannot make the app stop or kill anything. Other packages add their own types with ``register_event(name)`` and
``register_request(name)``. Every message carries ``time`` (wall clock at creation); it is left out of equality so
two events that say the same thing compare equal.
"""
from __future__ import annotations

import dataclasses
import time as _time
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

JOB_STATES = ("starting", "running", "stopping", "finished", "stopped", "failed")
ENDED_STATES = ("finished", "stopped", "failed")
# The phases workers announce, in the order a run goes through them (core.jobs.log_lines words each one).
PHASES = ("download", "load", "data", "sft", "eval", "save", "dpo", "run",
          "export.merge", "export.convert", "export.quantize", "export.smoke", "export.modelfile",
          "eval.load", "eval.score", "eval.embed", "eval.write", "embed.load", "embed.encode", "embed.finish")
LEGACY_STAGES = ("sft", "dpo")  # runs recorded before ``phase`` kept their stage in ProgressReported.message


@dataclass(frozen=True)
class Message:
    """What events and requests share: the job they concern and when they were made."""
    job_id: str = ""
    time: float = field(default_factory=_time.time, compare=False)


@dataclass(frozen=True)
class Event(Message):
    """Something that happened (worker -> app, or inside the app)."""


@dataclass(frozen=True)
class Request(Message):
    """Something asked of a job (app -> runner -> worker); never parsed from a worker's output."""


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
    message: str = ""                # a phase of work without steps ("downloading ..."); older runs: the stage
    phase: str = ""                  # the phase this step belongs to ("sft", "dpo", "eval.score"...; see PHASES)
    run_eta: float | None = None     # seconds left for the whole run (this phase and the planned ones after it)
    rss: float | None = None         # GiB resident memory of the worker process (the CPU's "VRAM")
    reward_margin: float | None = None    # DPO: chosen minus rejected reward, averaged over the step's pairs
    reward_accuracy: float | None = None  # DPO: share of pairs where the chosen reply scored higher

    @property
    def is_phase(self) -> bool:
        """A phase announcement (loading, downloading) rather than a finished step."""
        return self.step == 0 and self.loss is None

    @property
    def stage(self) -> str:
        """The phase of a step: ``phase``, or for runs recorded before it existed the stage kept in ``message``."""
        return self.phase or (self.message if self.message in LEGACY_STAGES else "")


@dataclass(frozen=True)
class EvalReported(Event):
    step: int = 0
    eval_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    best_loss: float | None = None   # the lowest eval loss of the run so far, this one included
    examples: int | None = None      # validation examples the loss is averaged over


@dataclass(frozen=True)
class CheckpointSaved(Event):
    step: int = 0
    path: str = ""
    pruned: tuple[str, ...] = ()     # older checkpoints deleted to keep save_total_limit


@dataclass(frozen=True)
class PhaseStarted(Event):
    """A worker began a phase of its work (``phase``: a name from PHASES); ``total`` steps when it counts them,
    ``details`` what a person reading the log wants to know about it (the model, the data, the plan)."""
    phase: str = ""
    total: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseFinished(Event):
    """A phase ended: how long it took and what came of it (``details``: counts, paths, losses; ``stopped`` when a
    stop request cut it short, ``skipped`` with the reason when it did not run)."""
    phase: str = ""
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


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
class JobStateChanged(Event):
    """The runner moved a job to ``state`` (one of JOB_STATES) from ``previous`` ("" for the first)."""
    name: str = ""
    state: str = ""
    previous: str = ""


@dataclass(frozen=True)
class StopJob(Request):
    """Request: stop the job cooperatively (save at the next step boundary), escalating after grace periods."""


@dataclass(frozen=True)
class KillJob(Request):
    """Request: end the job now, without waiting for it to save."""


WIRE_NAMES: dict[str, type[Event]] = {
    "launched": JobLaunched,
    "started": JobStarted,
    "state": JobStateChanged,
    "log": LogLine,
    "progress": ProgressReported,
    "eval": EvalReported,
    "checkpoint": CheckpointSaved,
    "phase_started": PhaseStarted,
    "phase_finished": PhaseFinished,
    "finished": JobFinished,
    "failed": JobFailed,
}
REQUEST_NAMES: dict[str, type[Request]] = {
    "stop": StopJob,
    "kill": KillJob,
}
NAME_OF: dict[type, str] = {cls: name for name, cls in [*WIRE_NAMES.items(), *REQUEST_NAMES.items()]}
ENDING_EVENTS = (JobFinished, JobFailed)
_T = TypeVar("_T")


def _registrar(registry: dict, base: type, kind: str, name: str) -> Callable[[_T], _T]:
    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, base) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"{kind} {name!r}: {cls!r} is not a {base.__name__} dataclass")
        taken = WIRE_NAMES.get(name) or REQUEST_NAMES.get(name)
        # the same class registered twice (a module imported under two names, a reload) is harmless
        if taken is not None and _identity(taken) != _identity(cls):
            raise ValueError(f"{kind} name {name!r} is already taken by {_identity(taken)}")
        if taken is not None:
            NAME_OF.pop(taken, None)
        registry[name] = cls
        NAME_OF[cls] = name
        return cls
    return decorate


def _identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_event(name: str) -> Callable[[_T], _T]:
    """Class decorator: add an Event subclass to the wire registry under ``name`` (worker -> app direction)."""
    return _registrar(WIRE_NAMES, Event, "event", name)


def register_request(name: str) -> Callable[[_T], _T]:
    """Class decorator: add a Request subclass under ``name`` (app -> worker direction only)."""
    return _registrar(REQUEST_NAMES, Request, "request", name)


def to_dict(event: Message) -> dict[str, Any]:
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
    """The event described by ``data``; raises ValueError for an unknown name (a request name included) or fields
    of the wrong kind.

    Unknown fields are ignored, so an older app can read a newer worker's events.
    """
    return _build(WIRE_NAMES, "event", data)


def request_from_dict(data: dict[str, Any]) -> Request:
    """The request described by ``data`` (the worker's side of a request line); never an event."""
    return _build(REQUEST_NAMES, "request", data)


def _build(registry: dict, kind: str, data: dict[str, Any]):
    name = data.get("event")
    cls = registry.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown {kind} {name!r}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in hints:
            continue
        if typing.get_origin(hints[key]) is tuple and isinstance(value, list):  # JSON has lists, the events tuples
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
