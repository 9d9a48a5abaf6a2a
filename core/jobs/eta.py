"""Time-left estimates for step-based jobs, per phase and for the whole run.

The pace is measured from the first step this process start reported, never from the run's step 0: a resumed run
measures its own pace (it did not do the earlier steps), and the first step (model warm-up, data loading) is left out
of the average because its time counts before the mark. Until ``MIN_STEPS`` steps have run since the mark, the
estimate is None, which views show as "estimating".

``RunEta`` keeps one estimator per phase (SFT and DPO count their own steps at their own pace) and, given the run's
plan (the phases with their step counts, from the worker's JobStarted), adds the later phases' steps at the current
phase's pace for the whole run's time left: a rough figure that leaves out evaluation passes, said as such.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

MIN_STEPS = 3  # steps after the mark before the pace means anything (the first ones include warm-up)


class EtaEstimator:
    def __init__(self, clock: Callable[[], float] = time.monotonic, min_steps: int = MIN_STEPS) -> None:
        self._clock = clock
        self._min_steps = min_steps
        self._mark: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None

    def observe(self, step: int, total: int | None) -> float | None:
        """Seconds left after ``step`` of ``total``, or None while estimating (or when the total is unknown)."""
        now = self._clock()
        if self._mark is None or step < self._mark[0]:
            self._mark, self._last = (step, now), None
            return None
        self._last = (step, now)
        mark_step, mark_time = self._mark
        done = step - mark_step
        if total is None or done < self._min_steps:
            return None
        return max(0.0, (total - step) * (now - mark_time) / done)

    def pace(self) -> float | None:
        """Seconds per step measured so far, or None while estimating."""
        if self._mark is None or self._last is None:
            return None
        done = self._last[0] - self._mark[0]
        return (self._last[1] - self._mark[1]) / done if done >= self._min_steps else None


class RunEta:
    """Time left for the current phase and for the whole run (see the module doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._phases: dict[str, EtaEstimator] = {}
        self._plan: list[tuple[str, int]] = []

    def plan(self, phases: Iterable) -> None:
        """The run's phases in order with their planned steps: ``[("sft", 20), ("dpo", 4)]``; bad entries skipped."""
        self._plan = [(str(item[0]), int(item[1])) for item in phases or ()
                      if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], int)]

    def observe(self, phase: str, step: int, total: int | None) -> tuple[float | None, float | None]:
        """(phase seconds left, run seconds left) after ``step`` of ``total`` in ``phase``."""
        estimator = self._phases.setdefault(phase, EtaEstimator(self._clock))
        left = estimator.observe(step, total)
        names = [name for name, _ in self._plan]
        if left is None or phase not in names:
            return left, None
        later = sum(steps for name, steps in self._plan[names.index(phase) + 1:])
        pace = estimator.pace()
        return left, (left + later * pace) if pace is not None else None


def format_eta(seconds: float | None) -> str:
    """"estimating", or a short duration such as "42s", "3m 05s", "1h 02m"."""
    if seconds is None:
        return "estimating"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
