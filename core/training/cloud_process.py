"""Running one ``sky`` (or rsync/scp) command for the cloud worker: its output line by line, while the worker keeps
an eye on stop requests; and the cloud run's small state file (``RUN/cloud/state.json``, written atomically).

``run_lines`` reads the child's output on a thread and hands each line to ``on_line`` on the caller's thread,
calling ``tick`` at least every ``TICK_SECONDS`` whether lines come or not (a remote step can take minutes), so a
stop request is acted on at once. ``tick`` returning True ends the child (its whole tree) early.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Callable

from core.config.workspace import atomic_write_text
from core.jobs import wire
from core.jobs.processes import kill_tree, no_window

TICK_SECONDS = 0.5
STATE_FILE = "state.json"
OWN_VARIABLES = (wire.ENV_CONTROL, wire.ENV_PARENT_PID, wire.ENV_STOP_FILE, wire.ENV_ORPHAN_GRACE)


def environment() -> dict[str, str]:
    """This process's environment without the runner's variables meant for this worker alone (its stdin, its
    parent, its STOP file): a command started from here is not the runner's worker."""
    return {key: value for key, value in os.environ.items() if key not in OWN_VARIABLES}


def run_lines(argv: list[str], cwd: Path, on_line: Callable[[str], None],
              tick: Callable[[], bool] = lambda: False) -> int:
    """Run ``argv`` in ``cwd`` (stdout and stderr together); the exit code (-1 when ``tick`` ended it)."""
    try:
        process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=environment(), **no_window())
    except OSError as exc:
        on_line(f"could not run {argv[0]}: {exc}")
        return 127
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def read() -> None:
        for raw in iter(process.stdout.readline, b""):
            lines.put(raw.decode("utf-8", errors="replace"))
        process.stdout.close()
        lines.put(None)

    threading.Thread(target=read, daemon=True, name="cloud-output").start()
    while True:
        try:
            line = lines.get(timeout=TICK_SECONDS)
        except queue.Empty:
            line = ""
        if line is None:
            return process.wait()
        if line:
            on_line(line.rstrip("\r\n"))
        if tick():
            kill_tree(process.pid)
            process.wait()
            return -1


def capture(argv: list[str], cwd: Path, timeout: float = 120.0) -> tuple[int, str]:
    """(exit code, output) of a short command; 124 and what it said when it ran past ``timeout``."""
    try:
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env=environment(), **no_window())
    except subprocess.TimeoutExpired as exc:
        return 124, (exc.stdout or b"").decode("utf-8", errors="replace")
    except OSError as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", errors="replace")


def read_state(folder: Path) -> dict:
    try:
        data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(folder: Path, state: dict) -> None:
    atomic_write_text(folder / STATE_FILE, json.dumps(state, indent=2, ensure_ascii=False))
