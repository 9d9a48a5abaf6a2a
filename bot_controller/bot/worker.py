"""One generation thread with a queue: model loading and replies run there, never on the event loop.

``await worker.run(function, *args)`` queues the call and resolves on the loop when the thread finished it; the
event loop keeps serving heartbeats, commands and typing indicators meanwhile. One thread because a llama.cpp
context serves one call at a time; per-channel ordering is the caller's (``ChannelQueues``).
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from typing import Any, Callable

STOP = object()


class GenerationWorker:
    def __init__(self, name: str = "dps-generation") -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def pending(self) -> int:
        return self._jobs.qsize()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return await future

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is STOP:
                return
            loop, future, function, args = job
            try:
                result, error = function(*args), None
            except BaseException as exc:  # delivered to the awaiting coroutine, never lost in this thread
                result, error = None, exc
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle_future, future, result, error)

    def close(self, timeout: float = 5.0) -> None:
        self._jobs.put(STOP)
        self._thread.join(timeout)


def settle_future(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """On the loop: hand a thread's result (or error) to the coroutine awaiting ``future``, unless it gave up."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ChannelQueues:
    """One lock per channel: a channel's requests are answered in arrival order, one at a time."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def lock(self, channel_id: int) -> asyncio.Lock:
        return self._locks[channel_id]
