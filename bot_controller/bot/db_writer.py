"""The running bot's writes, off the event loop: one SQLite writer thread, and one thread feeding the memory.

A busy server sends many messages a second; a SQLite write waits up to 30 s for a lock (a forget, an import), and a
memory write embeds text. Neither may happen on the event loop, which must keep answering Discord and sending
heartbeats. So:
- ``DatabaseWriter``: every SQLite write of the bot goes through its queue, in order, on its own connection.
  Captured messages (``capture``) are merged into one ``write_batch`` transaction per flush (everything queued so
  far, at most ``MAX_BATCH`` messages); other writes are calls (``call`` awaits the result, ``post`` does not). A
  write that fails is tried again ``ATTEMPTS`` times, then each message of the burst alone, so that only a message
  the database refuses for good is reported lost (``stats.lost``).
- ``MemoryFeeder``: the stored messages go on to the memory in batches (one embedding call and one LanceDB write per
  batch), on a thread of its own, so embedding never delays a SQLite write or a reply.
Both drain their queue on ``close``.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot_controller.bot.worker import settle_future
from storage.messages import write_batch
from storage.rows import MessageBatch

LOG = logging.getLogger("dps.bot")
MAX_BATCH = 500          # messages per capture transaction: large enough to amortise the commit at 100 msg/s
ATTEMPTS = 3             # a failed write is tried this often (a lock held past the busy timeout) before giving up
RETRY_PAUSE_S = 0.5
MEMORY_BATCH = 256       # messages per memory write (one encode call, one LanceDB version)
STOP = object()


@dataclass
class Captured:
    batch: MessageBatch
    remember: Any = None       # what the memory feeder gets once the message is stored (a MemoryMessage)


@dataclass
class Call:
    function: Callable
    args: tuple
    kwargs: dict
    done: Callable[[Any, BaseException | None], None] | None


@dataclass
class WriterStats:
    captured: int = 0          # messages written (new or updated)
    withheld: int = 0          # refused by consent inside the write (forgotten authors)
    lost: int = 0              # messages whose write failed every attempt
    batches: int = 0
    busiest: int = 0           # most messages in one transaction


def take_burst(items: queue.Queue, limit: int) -> list:
    """The next item (waiting for it) and whatever else is queued already, ``limit`` items at most."""
    burst = [items.get()]
    while len(burst) < limit:
        try:
            burst.append(items.get_nowait())
        except queue.Empty:
            break
    return burst


def merge(batches: list[MessageBatch]) -> MessageBatch:
    merged = MessageBatch()
    for batch in batches:
        merged.guilds.update(batch.guilds)
        merged.channels.update(batch.channels)
        merged.users.update(batch.users)
        merged.messages.extend(batch.messages)
    return merged


class DatabaseWriter:
    """``connect()`` makes the thread's connection; ``on_stored(items)`` hears of the captured items stored."""

    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 on_stored: Callable[[list[Captured]], None] | None = None,
                 on_error: Callable[[str], None] = LOG.warning, name: str = "dps-sqlite-writer") -> None:
        self._connect, self.on_stored, self.on_error = connect, on_stored, on_error
        self._queue: queue.Queue = queue.Queue()
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # -- from any thread (the loop) ----------------------------------------------------------------------------------
    def capture(self, batch: MessageBatch, remember: Any = None) -> None:
        self._queue.put(Captured(batch, remember))

    def post(self, function: Callable, *args: Any, **kwargs: Any) -> None:
        """Run ``function(conn, *args, **kwargs)`` on the writer thread; a failure is one line through ``on_error``."""
        self._queue.put(Call(function, args, kwargs, None))

    async def call(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        """``function(conn, *args, **kwargs)`` on the writer thread, after everything queued before it; its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle_future, future, result, error)
        self._queue.put(Call(function, args, kwargs, done))
        return await future

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        self._queue.put(STOP)
        self._thread.join(timeout)

    # -- the writer thread ---------------------------------------------------------------------------------------
    def _serve(self) -> None:
        conn = self._connect()
        try:
            while self._handle(conn, take_burst(self._queue, MAX_BATCH)):
                pass
        finally:
            conn.close()

    def _handle(self, conn: sqlite3.Connection, items: list) -> bool:
        """Write the captures among ``items`` as one transaction, then run the calls in order; False once STOP was
        among them. A call still runs after every capture queued before it (``settle`` relies on that)."""
        self._write(conn, [item for item in items if isinstance(item, Captured)])
        for item in items:
            if item is STOP:
                return False
            if isinstance(item, Call):
                self._run(conn, item)
        return True

    def _write(self, conn: sqlite3.Connection, captured: list[Captured]) -> None:
        """One transaction for the burst; should it fail for good, each message alone, so that one message the
        database refuses costs that message only."""
        if not captured:
            return
        if self._write_batch(conn, captured, report=len(captured) == 1):
            return
        for item in captured:
            self._write_batch(conn, [item], report=True)

    def _write_batch(self, conn: sqlite3.Connection, captured: list[Captured], *, report: bool) -> bool:
        batch = merge([item.batch for item in captured])
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = write_batch(conn, batch)
                break
            except Exception as exc:  # OperationalError: a lock held past the busy timeout; else bad data, a bug
                if attempt == ATTEMPTS or not isinstance(exc, sqlite3.OperationalError):
                    if report:
                        self.stats.lost += len(batch.messages)
                        self.on_error(f"capture lost {len(batch.messages)} message(s): the database refused the "
                                      f"write {attempt} time(s) ({type(exc).__name__}: {exc})")
                    return False
                time.sleep(RETRY_PAUSE_S * attempt)
        self.stats.captured += result.new + result.updated + result.unchanged
        self.stats.withheld += result.withheld
        self.stats.batches += 1
        self.stats.busiest = max(self.stats.busiest, len(batch.messages))
        stored = [item for item in captured
                  if not any(row.author_id in result.refused for row in item.batch.messages)]
        if self.on_stored is not None and stored:
            self.on_stored(stored)
        return True

    def _run(self, conn: sqlite3.Connection, call: Call) -> None:
        try:
            result, error = call.function(conn, *call.args, **call.kwargs), None
        except BaseException as exc:  # delivered to the awaiting coroutine, or said once for a posted write
            result, error = None, exc
        if call.done is not None:
            call.done(result, error)
        elif error is not None:
            self.on_error(f"a database write failed: {type(error).__name__}: {error}")


class MemoryFeeder:
    """Keeps the bot's memory in step with capture, in batches, on its own thread: ``feed("add", messages)`` (new),
    ``feed("replace", messages)`` (edited: the old text goes), ``feed("forget", message_ids)`` (deleted on
    Discord). Runs of the same kind go to ``memory()`` as one call each, in arrival order."""

    def __init__(self, memory: Callable[[], Any], on_error: Callable[[str], None] = LOG.warning,
                 name: str = "dps-memory-feeder") -> None:
        self._memory, self.on_error = memory, on_error
        self._queue: queue.Queue = queue.Queue()
        self.added = 0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def feed(self, kind: str, items: list) -> None:
        for item in items:
            self._queue.put((kind, item))

    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 120.0) -> bool:
        """Block until everything fed so far went to the memory; False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        self._queue.put(STOP)
        self._thread.join(timeout)

    def _serve(self) -> None:
        while True:
            items = take_burst(self._queue, MEMORY_BATCH)
            stopping = any(item is STOP for item in items)
            flushed = [item for item in items if isinstance(item, threading.Event)]
            runs: list[tuple[str, list]] = []
            for kind, payload in (item for item in items if item is not STOP and item not in flushed):
                if runs and runs[-1][0] == kind:
                    runs[-1][1].append(payload)
                else:
                    runs.append((kind, [payload]))
            memory = self._memory() if runs else None
            for kind, payloads in runs if memory is not None else ():
                self._apply(memory, kind, payloads)
            for marker in flushed:
                marker.set()
            if stopping:
                return

    def _apply(self, memory, kind: str, payloads: list) -> None:
        verb = {"add": memory.add_messages, "replace": memory.replace_messages, "forget": memory.forget_messages}[kind]
        try:
            count = verb(payloads)
        except Exception as exc:  # the memory is a help, not the record: say it, keep capturing
            self.on_error(f"memory: {kind} of {len(payloads)} message(s) failed: {exc}")
            return
        if kind == "add":
            self.added += count
