"""Time-left estimates for step-based jobs.

The pace is measured from the first step this process start reported, never from the run's step 0: a resumed run
measures its own pace (it did not do the earlier steps), and the first step (model warm-up, data loading) is left out
of the average because its time counts before the mark. Until ``MIN_STEPS`` steps have run since the mark, the
estimate is None, which views show as "estimating".
"""
from __future__ import annotations

import time
from typing import Callable

MIN_STEPS = 3  # steps after the mark before the pace means anything (the first ones include warm-up)


class EtaEstimator:
    def __init__(self, clock: Callable[[], float] = time.monotonic, min_steps: int = MIN_STEPS) -> None:
        self._clock = clock
        self._min_steps = min_steps
        self._mark: tuple[int, float] | None = None

    def observe(self, step: int, total: int | None) -> float | None:
        """Seconds left after ``step`` of ``total``, or None while estimating (or when the total is unknown)."""
        now = self._clock()
        if self._mark is None or step < self._mark[0]:
            self._mark = (step, now)
            return None
        mark_step, mark_time = self._mark
        done = step - mark_step
        if total is None or done < self._min_steps:
            return None
        return max(0.0, (total - step) * (now - mark_time) / done)


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
