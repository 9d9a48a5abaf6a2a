"""What the light workers (import, prepare, fetch) share: progress, cooperative cancel, and one ending.

These workers run the same library code the CLI runs in-process; the work reports progress through a callback,
and ``WorkerKit.progress`` turns each report into a ProgressReported event and, when a stop was asked for, raises
``Cancelled`` right there. The callbacks are called between batches (import), pages (fetch) and message blocks
(prepare), after what came before was committed, so a cancelled job keeps everything it had written and nothing
half-written. ``run`` gives every worker the same ending: JobFinished ("finished" or "stopped"), a one-line JobFailed
for the errors the work expects, or the shared report for anything else. No ML import here or in these workers.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from core.config.secrets import redact
from core.jobs import wire
from core.jobs.events import JobFailed, JobFinished, JobStarted, ProgressReported

PROGRESS_SECONDS = 0.25  # at most this often a progress event, however often the work reports


class Cancelled(Exception):
    """Raised from a progress callback when a stop was asked for; ``partial`` is what the job did so far."""

    def __init__(self, partial: dict[str, Any] | None = None) -> None:
        super().__init__("stopped")
        self.partial = partial or {}


class BadInput(Exception):
    """The worker was started with options it cannot use; reported as one line."""


def bind_options(function: Callable, *args: Any, **options: Any) -> None:
    """Raise BadInput when ``function`` would not accept these arguments (an unknown option name, say)."""
    import inspect
    try:
        inspect.signature(function).bind(*args, **options)
    except TypeError as exc:
        raise BadInput(f"{getattr(function, '__name__', 'the work')}: {exc}") from None


class WorkerKit:
    def __init__(self, name: str, link: wire.WorkerLink | None = None, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.link = link or wire.link()
        self.clock = clock
        self.started = clock()
        self.partial: dict[str, Any] = {}  # the latest counts, for a stopped job's result
        self._last_progress = float("-inf")
        self._held: ProgressReported | None = None  # the latest report the throttle held back

    def started_event(self, total: int | None = None, **details: Any) -> None:
        self.link.emit(JobStarted(name=self.name, backend="in-process", device="cpu", total_steps=total,
                                  details=details))

    def say(self, text: str) -> None:
        """A human line for the job's log (redacted: Discord errors can quote what they were sent)."""
        print(redact(text), flush=True)

    def progress(self, step: int, total: int | None = None, message: str = "", *, force: bool = False,
                 **partial: Any) -> None:
        """Report progress (throttled) and honour a stop: raises Cancelled when one was asked for."""
        self.partial.update(partial)
        now = self.clock()
        event = ProgressReported(step=step, total=total, message=message, elapsed=round(now - self.started, 3))
        if force or now - self._last_progress >= PROGRESS_SECONDS:
            self._last_progress, self._held = now, None
            self.link.emit(event)
        else:
            self._held = event
        self.check_stop()

    def flush_progress(self) -> None:
        """Send the report the throttle held back, so the last progress a consumer sees is the final one."""
        if self._held is not None:
            self.link.emit(self._held)
            self._held = None

    def check_stop(self) -> None:
        if self.link.stop_requested():
            raise Cancelled(dict(self.partial))

    def run(self, work: Callable[[], dict[str, Any]], *, expected: tuple[type[BaseException], ...] = (),
            what: str = "", advice: str = "") -> int:
        """Run ``work`` to its one ending event; the exit code (0 finished or stopped, 1 failed)."""
        try:
            result = work()
            self.flush_progress()
        except Cancelled as cancelled:
            self.flush_progress()
            self.link.emit(JobFinished(status="stopped", result=cancelled.partial, seconds=self._seconds()))
            return 0
        except (BadInput, *expected) as exc:
            message = redact(" ".join(str(exc).split())) or type(exc).__name__
            print(f"error: {message}", file=sys.stderr, flush=True)
            self.link.emit(JobFailed(message=message, advice=advice, exit_code=1))
            return 1
        except Exception as exc:
            return wire.report_unexpected(self.link, exc, what or self.name, advice)
        self.link.emit(JobFinished(status="finished", result=result, seconds=self._seconds()))
        return 0

    def _seconds(self) -> float:
        return round(self.clock() - self.started, 3)
