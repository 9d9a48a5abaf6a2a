"""The one protocol between the job runner and its workers, both directions.

Worker → runner: human log lines pass through as they are; machine events are one JSON object per line behind
``MARKER`` (``emit()``). Parsing is tolerant: a marker line that is not a valid event becomes a ``LogLine``, never a
crash, and text printed just before a marker on the same line is kept as its own log line.

Runner → worker: requests, one JSON object per line behind ``REQUEST_MARKER`` on the worker's stdin
(``Job.send_request``); the worker's control thread rebuilds them with ``request_from_dict`` (requests only, never an
event) and calls the handlers registered with ``link().on_request(name, callback)``. ``StopJob`` (or the older plain
``stop`` line, or a ``STOP`` file in the run folder) asks the worker to stop at its next step boundary
(``stop_requested()``). The directions never mix: ``parse_line`` only yields events, so a request line a worker
prints is a log line. The worker is bound to its parent's lifetime: when stdin reaches
EOF (the parent died and the pipe closed) or the parent pid disappears, the worker treats it as a stop request and
exits on its own after ``ORPHAN_GRACE_SECONDS`` whatever it is doing — no orphan keeps a GPU busy.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from core.jobs.events import Event, LogLine, NAME_OF, Request, StopJob, from_dict, request_from_dict, to_dict

MARKER = "@@dps-event@@ "
REQUEST_MARKER = "@@dps-request@@ "
STOP_LINE = "stop"
STOP_FILE_NAME = "STOP"
# Environment the runner sets for its workers (a worker started by hand has none of them and is not watched).
ENV_CONTROL = "DPS_WORKER_CONTROL"     # "stdin": the parent keeps the worker's stdin open and writes stop lines
ENV_PARENT_PID = "DPS_PARENT_PID"      # the parent's pid, polled as a second lifeline
ENV_STOP_FILE = "DPS_STOP_FILE"        # the run folder's STOP file
ENV_ORPHAN_GRACE = "DPS_ORPHAN_GRACE"  # seconds an orphaned worker gets to save before it exits
ORPHAN_GRACE_SECONDS = 30.0  # long enough to write a LoRA checkpoint, short enough that a dead app frees the GPU soon
PARENT_POLL_SECONDS = 2.0
EXIT_ORPHANED = 3


def encode(event: Event) -> str:
    """The wire line for ``event`` (no newline)."""
    return MARKER + _json(event)


def encode_request(request: Request) -> str:
    """The stdin line for ``request`` (no newline); requests never travel worker -> runner."""
    if not isinstance(request, Request):
        raise TypeError(f"{type(request).__name__} is not a request")
    return REQUEST_MARKER + _json(request)


def parse_request(line: str) -> Request | None:
    """The request a control line carries (the plain ``stop`` line included); None for anything else."""
    line = line.strip()
    if line.lower() == STOP_LINE:
        return StopJob()
    if not line.startswith(REQUEST_MARKER.strip()):
        return None
    try:
        data = json.loads(line[len(REQUEST_MARKER.strip()):])
        return request_from_dict(data) if isinstance(data, dict) else None
    except (ValueError, TypeError, RecursionError):
        return None


def _json(message) -> str:
    return json.dumps(to_dict(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def parse_line(line: str, stream: str = "stdout") -> list[Event]:
    """The events one output line carries: a machine event, a log line, or both (text printed before a marker)."""
    line = line.rstrip("\r\n")
    position = line.find(MARKER)
    if position < 0:
        return [LogLine(text=line, stream=stream)]
    events: list[Event] = []
    if line[:position].strip():
        events.append(LogLine(text=line[:position], stream=stream))
    try:
        data = json.loads(line[position + len(MARKER):])
        if not isinstance(data, dict):
            raise ValueError("not an object")
        events.append(from_dict(data))
    except (ValueError, TypeError, RecursionError):
        events.append(LogLine(text=line[position:], stream=stream))
    return events


class WorkerLink:
    """The worker's end of the protocol: emits events, and knows whether a stop was asked for."""

    def __init__(self, stream: TextIO | None = None, stop_file: Path | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.stop_reason = ""
        self.stop_file = stop_file
        self.detached = False  # the parent is gone: nobody reads what we write
        self._handlers: dict[str, list] = {}

    def emit(self, event: Event) -> None:
        line = encode(event) + "\n"
        with self._lock:
            if self.detached:
                return
            stream = self._stream or sys.stdout
            try:
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):  # broken pipe or closed stream: the parent went away
                self.detached = True

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def stop_requested(self) -> bool:
        """True once a stop line arrived, the STOP file exists, or the parent died. Cheap: call it every step."""
        if not self._stop.is_set() and self.stop_file is not None and self.stop_file.exists():
            self.request_stop("stop file")
        return self._stop.is_set()

    def on_request(self, name: str, callback) -> None:
        """Call ``callback(request)`` on the control thread for every request registered as ``name`` ("stop",
        or a name given to ``register_request``). Keep it quick; an exception is printed to stderr and ignored."""
        self._handlers.setdefault(name, []).append(callback)

    def handle_request(self, request: Request) -> None:
        """What the control thread does with a request: stop requests set the stop flag, then the handlers run."""
        if isinstance(request, StopJob):
            self.request_stop("stop requested")
        for callback in list(self._handlers.get(NAME_OF.get(type(request), ""), ())):
            try:
                callback(request)
            except Exception:  # a broken handler must not end the control thread (stop would stop working)
                import traceback
                print(f"request handler for {NAME_OF.get(type(request))} failed:", file=sys.stderr)
                traceback.print_exc()

    def watch_parent(self, environ: dict[str, str] | None = None) -> None:
        """Start the stdin reader and the parent-pid poller when the runner asked for them (see module doc)."""
        environ = os.environ if environ is None else environ
        if self.stop_file is None and environ.get(ENV_STOP_FILE):
            self.stop_file = Path(environ[ENV_STOP_FILE])
        grace = float(environ.get(ENV_ORPHAN_GRACE, ORPHAN_GRACE_SECONDS))
        if environ.get(ENV_CONTROL) == "stdin":
            threading.Thread(target=self._read_control, args=(sys.stdin, grace), name="dps-control",
                             daemon=True).start()
        if environ.get(ENV_PARENT_PID, "").isdigit():
            threading.Thread(target=self._poll_parent, args=(int(environ[ENV_PARENT_PID]), grace),
                             name="dps-parent-watch", daemon=True).start()

    def _read_control(self, stdin: TextIO, grace: float) -> None:
        try:
            for line in stdin:
                request = parse_request(line)
                if request is not None:
                    self.handle_request(request)
        except (OSError, ValueError):
            pass
        self._orphaned(grace)  # EOF: the parent closed our stdin by dying

    def _poll_parent(self, parent_pid: int, grace: float) -> None:
        import psutil
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            # Not os.getppid(): on Windows a venv's python.exe is a redirector, so the real parent is one level up.
            if not psutil.pid_exists(parent_pid):
                self._orphaned(grace)
                return

    def _orphaned(self, grace: float) -> None:
        self.detached = True
        self.request_stop("parent exited")
        timer = threading.Timer(grace, os._exit, args=(EXIT_ORPHANED,))
        timer.daemon = True
        timer.start()


_default_link: WorkerLink | None = None


def link() -> WorkerLink:
    """The process-wide worker link (stdout, watching the parent as the environment says)."""
    global _default_link
    if _default_link is None:
        _default_link = WorkerLink()
        _default_link.watch_parent()
    return _default_link


def emit(event: Event) -> None:
    """Send ``event`` to the job runner (worker side)."""
    link().emit(event)


def stop_requested() -> bool:
    return link().stop_requested()


def report_unexpected(link: WorkerLink, exc: BaseException, what: str, advice: str) -> int:
    """A worker's last word on an unexpected error: the traceback to the log, one JobFailed line to the runner
    (both redacted: an exception can quote the bot token)."""
    import traceback
    from core.config.secrets import redact
    from core.jobs.events import JobFailed
    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.flush()
    message = redact(" ".join(str(exc).split())[:300]) or type(exc).__name__
    link.emit(JobFailed(message=f"{what} failed: {type(exc).__name__}: {message}", advice=advice, exit_code=1))
    return 1
