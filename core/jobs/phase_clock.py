"""A worker's phases announced with their durations: ``start`` sends PhaseStarted, ``finish`` PhaseFinished with the
seconds since that phase started (the words are ``core.jobs.log_lines``'s). Export, evaluation and embedding use it;
the training worker sends its phases from ``model.training_run`` the same way."""
from __future__ import annotations

import time
from typing import Any, Callable

from core.jobs.events import PhaseFinished, PhaseStarted


class PhaseClock:
    def __init__(self, link, clock: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.clock = clock
        self._started: dict[str, float] = {}

    def start(self, phase: str, total: int | None = None, **details: Any) -> None:
        self._started[phase] = self.clock()
        self.link.emit(PhaseStarted(phase=phase, total=total, details=details))

    def finish(self, phase: str, **details: Any) -> None:
        started = self._started.pop(phase, None)
        seconds = round(self.clock() - started, 1) if started is not None else None
        self.link.emit(PhaseFinished(phase=phase, seconds=seconds, details=details))
