"""The event bus: any thread publishes, one consumer (the Tk thread, or the CLI's main thread) drains.

The consumer takes bounded batches so that a flood of log lines never freezes a GUI tick: the GUI drains with
``drain(max_items)`` from ``after(...)`` and schedules ``after_idle`` when ``pending()`` says more is waiting. The
CLI, which has nothing else to do, blocks in ``drain(timeout=...)``.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

from core.jobs.events import Event

DEFAULT_BATCH = 200  # events per drain: enough to keep up with a chatty worker, small enough for a 50 ms GUI tick


class EventBus:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._taps: list[Callable[[Event], None]] = []
        self._taps_lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """Queue ``event`` for the consumer; safe from any thread, never blocks."""
        with self._taps_lock:
            taps = list(self._taps)
        for tap in taps:
            tap(event)
        self._queue.put(event)

    def tap(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` on the publishing thread for every event (for recorders that must not wait for the
        consumer, e.g. writing run logs). Keep it quick and thread-safe; it must not touch widgets."""
        with self._taps_lock:
            self._taps.append(callback)

    def drain(self, max_items: int = DEFAULT_BATCH, timeout: float | None = None) -> list[Event]:
        """Up to ``max_items`` queued events, oldest first. With ``timeout``, waits that long for the first one."""
        events: list[Event] = []
        if timeout is not None:
            try:
                events.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                return events
        while len(events) < max_items:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return events

    def pending(self) -> bool:
        """Whether events are waiting (a hint: another thread may publish right after)."""
        return not self._queue.empty()
