"""One bot child process as the supervisor sees it: launch, pipes, heartbeats, requests, terminate and kill.

The supervisor never imports the bot's code: it launches an argv list (never a shell) with an injected ``popen``.
Two reader threads parse the child's stdout/stderr with the job wire protocol and publish what it says on the bus
(stamped ``BOT_JOB_ID``); heartbeats are counted here, without the controller's lock, so a reader never waits on the
state machine (a reader that blocks leaves the child stuck on a full pipe). Writes to stdin go through one writer
thread, so a request never blocks the caller (the panel's Tk thread). The token, when it must travel, is the first
stdin line: never argv, never the environment, never a log.
"""
from __future__ import annotations

import collections
import os
import queue
import subprocess
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from bot_controller.protocol import BOT_JOB_ID, BotHeartbeat
from core.config.secrets import redact
from core.jobs import wire
from core.jobs.events import Event, JobFailed, LogLine, Request
from core.jobs.processes import write_lines
from core.jobs.runner import kill_tree

TAIL_LINES = 20
LOG_LIMIT_BYTES = 5_000_000  # a bot runs for weeks: keep bot.log and one older bot.log.1, no more


def platform_options() -> dict:
    """Keep the child out of the terminal's Ctrl+C (the supervisor stops it over stdin) and, on Windows, without a
    console window of its own: no POSIX signals are needed to stop it."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def _open_log(path: Path):
    """``path`` for appending (closed by ``ChildProcess.close``), moved to ``.1`` first when it grew too big."""
    try:
        if path.stat().st_size > LOG_LIMIT_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except OSError:
        pass  # no log yet
    return open(path, "a", encoding="utf-8")  # noqa: SIM115


class ChildProcess:
    """A launched bot child. ``handle_line`` is what the reader threads call for every output line."""

    def __init__(self, popen: Callable, argv: list[str], env: dict[str, str], *, publish: Callable[[Event], None],
                 clock: Callable[[], float], first_line: str | None = None, log_path: Path | None = None) -> None:
        self._publish = publish
        self._clock = clock
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._writes: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._log_lock = threading.Lock()
        self._log = _open_log(log_path) if log_path else None
        self.beats = 0
        self.last_beat: float | None = None
        self.last_status = ""
        self.failure = ""            # the child's own JobFailed message, the best reason for an exit
        self.process = popen(list(argv), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, **platform_options())
        self.pid: int = self.process.pid
        if first_line is not None:
            self._writes.put(first_line.strip() + "\n")
        self._readers = [threading.Thread(target=self._read, args=(pipe, stream), daemon=True,
                                          name=f"bot-{self.pid}-{stream}")
                         for pipe, stream in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr"))
                         if pipe is not None]
        for reader in self._readers:
            reader.start()
        if self.process.stdin is not None:
            threading.Thread(target=write_lines, args=(self._writes, self.process.stdin), daemon=True,
                             name=f"bot-{self.pid}-stdin").start()

    # -- output ------------------------------------------------------------------------------------------------------
    def _read(self, pipe, stream: str) -> None:
        try:
            for raw in iter(pipe.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n") if isinstance(raw, bytes) else raw
                self.handle_line(text, stream)
        except (OSError, ValueError):
            pass  # the pipe closed under us: the process is gone
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def handle_line(self, text: str, stream: str = "stdout") -> None:
        for event in wire.parse_line(text, stream):
            if isinstance(event, BotHeartbeat):
                self.last_beat = self._clock()
                self.last_status = event.status
                self.beats += 1
            elif isinstance(event, LogLine):
                self._tail.append(redact(event.text))
                self._write_log(f"[{stream}] {event.text}")
                event = replace(event, text=redact(event.text))
            elif isinstance(event, JobFailed):
                self.failure = redact(event.message)
            self._publish(replace(event, job_id=BOT_JOB_ID))

    def _write_log(self, line: str) -> None:
        if self._log is None:
            return
        with self._log_lock:
            try:
                self._log.write(redact(line) + "\n")
                self._log.flush()
            except (OSError, ValueError):
                pass

    def detail(self) -> str:
        """One line saying why the child ended: its JobFailed message, else its last non-empty output line."""
        if self.failure:
            return self.failure
        lines = [line.strip() for line in self._tail if line.strip()]
        return lines[-1][:300] if lines else ""

    def join_readers(self, timeout: float) -> None:
        """Let the readers take the last lines (the reason for an exit) before the exit is handled."""
        for reader in self._readers:
            reader.join(timeout)

    # -- input ------------------------------------------------------------------------------------------------------
    def send(self, request: Request) -> None:
        self._writes.put(wire.encode_request(request) + "\n")

    def send_stop(self) -> None:
        self._writes.put(wire.STOP_LINE + "\n")

    # -- lifetime ---------------------------------------------------------------------------------------------------
    def poll(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        """POSIX: SIGTERM, which the bot may still answer by logging out. Windows has no polite signal: terminating
        there ends the whole tree at once, like ``kill``, or the launcher's child would outlive it."""
        if os.name == "nt":
            self.kill()
            return
        try:
            self.process.terminate()
        except OSError:
            pass

    def kill(self) -> None:
        """End the child and anything it started (on Windows a venv's python.exe is a launcher with the real
        interpreter as its child, so killing only the direct child would leave the bot running)."""
        if isinstance(self.process, subprocess.Popen):
            kill_tree(self.pid)
        try:
            self.process.kill()
        except OSError:
            pass

    def close(self) -> None:
        """After the exit: stop the writer, close stdin and the log file."""
        self._writes.put(None)
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        if self._log is not None:
            with self._log_lock:
                self._log.close()
                self._log = None
