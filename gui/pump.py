"""The after() pump: the only way events reach widgets.

Any thread publishes on the bus; the panel's subscription queues the events; this pump, on the Tk thread, drains a
bounded batch per tick and hands each event to every live target's ``on_<event_snake_case>`` handler (``LogLine`` ->
``on_log_line``). When more is waiting it comes back with ``after_idle`` (the window still redraws between batches),
otherwise after ``interval_ms``. A handler that raises is reported (``on_error``) and the rest still run.
"""
from __future__ import annotations

import re
import time
from typing import Callable, Iterable

BATCH = 200          # events per tick: a 2,000 lines/s job fills one tick in ~100 ms of output
INTERVAL_MS = 50     # idle polling: 20 Hz feels live and costs nothing
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NAMES: dict[type, str] = {}


def handler_name(event_type: type) -> str:
    """``on_`` + the class name in snake case: ``JobStateChanged`` -> ``on_job_state_changed``."""
    name = _NAMES.get(event_type)
    if name is None:
        name = _NAMES[event_type] = "on_" + _CAMEL.sub("_", event_type.__name__).lower()
    return name


class EventPump:
    """Drains ``subscription`` on ``widget``'s Tk loop into the handlers of ``targets()`` (called each batch)."""

    def __init__(self, widget, subscription, targets: Callable[[], Iterable[object]], *,
                 on_error: Callable[[object, object, BaseException], None] | None = None,
                 batch: int = BATCH, interval_ms: int = INTERVAL_MS) -> None:
        self.widget = widget
        self.subscription = subscription
        self.targets = targets
        self.on_error = on_error
        self.batch = batch
        self.interval_ms = interval_ms
        self.delivered = 0
        self.longest_batch = 0.0   # seconds: the worst tick so far (the benchmark reads it)
        self._after_id: str | None = None
        self._running = False

    def start(self) -> None:
        self._running = True
        self._schedule(self.interval_ms)

    def stop(self) -> None:
        self._running = False
        if self._after_id is not None:
            try:
                self.widget.after_cancel(self._after_id)
            except Exception:  # the window is already gone
                pass
            self._after_id = None

    def _schedule(self, delay_ms: int | None) -> None:
        if not self._running:
            return
        if delay_ms is None:
            self._after_id = self.widget.after_idle(self.tick)
        else:
            self._after_id = self.widget.after(delay_ms, self.tick)

    def tick(self) -> int:
        """Deliver one batch; returns how many events it delivered."""
        self._after_id = None
        started = time.perf_counter()
        events = self.subscription.drain(self.batch)
        if events:
            targets = list(self.targets())
            for event in events:
                self.dispatch(event, targets)
        self.delivered += len(events)
        self.longest_batch = max(self.longest_batch, time.perf_counter() - started)
        self._schedule(None if self.subscription.pending() else self.interval_ms)
        return len(events)

    def dispatch(self, event, targets: Iterable[object]) -> None:
        name = handler_name(type(event))
        for target in targets:
            handler = getattr(target, name, None)
            if handler is None or not alive(target):
                continue
            try:
                handler(event)
            except Exception as exc:  # one broken view must not stop the others or the pump
                if self.on_error is None:
                    raise
                self.on_error(target, event, exc)

    def flush(self, limit: int = 100_000) -> int:
        """Deliver everything queued now (tests): ticks until the queue is empty or ``limit`` events went."""
        total = 0
        while self.subscription.pending() and total < limit:
            events = self.subscription.drain(self.batch)
            targets = list(self.targets())
            for event in events:
                self.dispatch(event, targets)
            total += len(events)
        self.delivered += total
        return total


def alive(target) -> bool:
    """False for a widget destroyed earlier in the same batch (a workspace switch rebuilds the pages)."""
    exists = getattr(target, "winfo_exists", None)
    if exists is None:
        return True
    try:
        return bool(exists())
    except Exception:  # TclError: the widget's interpreter or path is gone
        return False
