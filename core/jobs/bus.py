"""The event bus: any thread publishes; every consumer (the panel, the bot supervisor, the CLI) subscribes with a
queue of its own, so two consumers never take each other's events.

A subscription may filter by job id and by event type. Consumers take bounded batches so that a flood of log lines
never freezes a GUI tick: the GUI drains with ``sub.drain(max_items)`` from ``after(...)`` and schedules
``after_idle`` when ``sub.pending()`` says more is waiting; the CLI, which has nothing else to do, blocks in
``sub.drain(timeout=...)``. Taps are synchronous recorders on the publishing thread. ``publish`` never blocks on a
consumer and never raises: a tap that raises is logged and the others (and every queue) still get the event.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import Callable

from core.jobs.events import Message

DEFAULT_BATCH = 200  # events per drain: enough to keep up with a chatty worker, small enough for a 50 ms GUI tick
MAX_PENDING = 100_000  # per subscription: a consumer that stopped draining must not eat the app's memory
LOGGED_FAILURES = 3    # per tap: enough to see the traceback, not a log flood from a tap that always fails

log = logging.getLogger(__name__)


class Subscription:
    """One consumer's queue. Created by ``EventBus.subscribe``; drained only by that consumer."""

    def __init__(self, bus: "EventBus", name: str, job_id: str | None, types: tuple[type, ...] | None) -> None:
        self.name = name
        self.job_id = job_id
        self.types = tuple(types) if types else None
        self.dropped = 0  # events lost because the queue was full (oldest first)
        self._bus = bus
        self._items: collections.deque[Message] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self.closed = False

    def wants(self, event: Message) -> bool:
        if self.job_id is not None and event.job_id != self.job_id:
            return False
        return self.types is None or isinstance(event, self.types)

    def _put(self, event: Message) -> None:
        with self._ready:
            if len(self._items) >= MAX_PENDING:
                self._items.popleft()
                self.dropped += 1
            self._items.append(event)
            self._ready.notify()

    def drain(self, max_items: int = DEFAULT_BATCH, timeout: float | None = None) -> list[Message]:
        """Up to ``max_items`` queued events, oldest first. With ``timeout``, waits that long for the first one."""
        with self._ready:
            if timeout is not None and not self._items:
                self._ready.wait_for(lambda: self._items or self.closed, timeout)
            count = min(max_items, len(self._items))
            return [self._items.popleft() for _ in range(count)]

    def pending(self) -> bool:
        """Whether events are waiting (a hint: another thread may publish right after)."""
        return bool(self._items)

    def close(self) -> None:
        """Stop receiving (same as ``bus.unsubscribe(self)``); what is queued can still be drained."""
        self._bus.unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, job_id={self.job_id!r}, pending={len(self._items)})"


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: tuple[Subscription, ...] = ()
        self._taps: tuple[Callable[[Message], None], ...] = ()
        self._lock = threading.Lock()
        self._failures: dict[int, int] = {}

    def publish(self, event: Message) -> None:
        """Hand ``event`` to every tap and every matching subscription; safe from any thread, never blocks on a
        consumer, never raises."""
        taps, subscriptions = self._taps, self._subscriptions  # tuples swapped whole: no lock on the hot path
        for tap in taps:
            try:
                tap(event)
            except Exception:  # a broken recorder must not stop a pipe reader (the worker would block)
                self._log_failure(tap, event)
        for subscription in subscriptions:
            try:
                if subscription.wants(event):
                    subscription._put(event)
            except Exception:
                self._log_failure(subscription, event)

    def subscribe(self, name: str = "", job_id: str | None = None,
                  types: tuple[type, ...] | None = None) -> Subscription:
        """A new queue that receives every event published from now on (only ``job_id``'s, only ``types``)."""
        subscription = Subscription(self, name, job_id, types)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(item for item in self._subscriptions if item is not subscription)
        with subscription._ready:
            subscription.closed = True
            subscription._ready.notify_all()  # a consumer blocked in drain(timeout) wakes up

    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._subscriptions

    def tap(self, callback: Callable[[Message], None]) -> None:
        """Call ``callback`` on the publishing thread for every event (for recorders that must not wait for a
        consumer, e.g. writing run logs). Keep it quick and thread-safe; it must not touch widgets. Exceptions are
        logged and swallowed."""
        with self._lock:
            self._taps = (*self._taps, callback)

    def untap(self, callback: Callable[[Message], None]) -> None:
        with self._lock:
            self._taps = tuple(item for item in self._taps if item is not callback)

    def _log_failure(self, who, event: Message) -> None:
        key = id(who)
        with self._lock:
            count = self._failures[key] = self._failures.get(key, 0) + 1
        if count <= LOGGED_FAILURES:
            log.exception("event bus: %r failed on %s (failure %d; later ones are counted, not logged)", who,
                          type(event).__name__, count)
