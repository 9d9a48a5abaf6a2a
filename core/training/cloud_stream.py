"""Reading a remote worker's output back from SkyPilot's job log: numbered lines, de-duplicated, paths mapped home.

On the rented machine every line the train worker prints is numbered by ``cloud-stamp`` (``stamp``). SkyPilot's
``sky logs`` shows the job's log with its own decoration (colours, a ``(task, pid=N)`` prefix) and its own chatter
in between; ``unstamp`` finds the number and the worker's line in whatever surrounds them. ``LogCursor`` remembers
the last number taken (persisted by the cloud worker), so reading the log again from its start after a lost
connection yields each line once. ``local_event`` maps the worker's paths (``../dps-run/...``, relative to SkyPilot's
working directory) to the local run folder, where the downloaded files land.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from core.jobs import wire
from core.jobs.events import Event

STAMP = "@@dps-line@@"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
STAMPED = re.compile(re.escape(STAMP) + r"(\d+) ?")
REMOTE_RUN_PATH = re.compile(r"(?:\.\./|~/|/[^\s\"']*/)dps-run(?![\w.-])((?:/[^\s\"',]*)?)")


def stamp(sequence: int, text: str) -> str:
    return f"{STAMP}{sequence} {text}"


def unstamp(raw: str) -> tuple[int | None, str]:
    """(the line's number, the worker's line) for a stamped line; (None, the line without colours) otherwise."""
    line = ANSI.sub("", raw.rstrip("\r\n"))
    found = STAMPED.search(line)
    if found is None:
        return None, line
    text = line[found.end():]
    return int(found.group(1)), text.rsplit("\r", 1)[-1]  # a progress bar's redraws: keep what a terminal shows


class LogCursor:
    """Which numbered lines were taken. ``take`` answers whether a line is new; within one reading of the log,
    unnumbered lines (SkyPilot's own) count as new only once the reading has passed the lines taken before."""

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self._caught_up = last == 0

    def new_reading(self) -> None:
        self._caught_up = self.last == 0

    def take(self, sequence: int | None) -> bool:
        if sequence is None:
            return self._caught_up
        if sequence <= self.last:
            return False
        self.last, self._caught_up = sequence, True
        return True


def worker_events(text: str) -> list[Event]:
    """The events in one of the worker's lines, as the job runner would parse them locally."""
    return wire.parse_line(text, "stdout")


def local_path(text: str, run_dir: Path) -> str:
    """``text`` with every remote run-folder path replaced by the same path under the local ``run_dir``."""
    def replace(found: re.Match) -> str:
        parts = [part for part in found.group(1).split("/") if part]
        return str(Path(run_dir).joinpath(*parts))
    return REMOTE_RUN_PATH.sub(replace, text)


def _localised(value: Any, run_dir: Path) -> Any:
    if isinstance(value, str):
        return local_path(value, run_dir)
    if isinstance(value, dict):
        return {key: _localised(item, run_dir) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_localised(item, run_dir) for item in value)
    return value


def local_event(event: Event, run_dir: Path) -> Event:
    """The event with its paths (a checkpoint's, the adapter's in a result) under the local run folder."""
    changes = {field.name: _localised(getattr(event, field.name), run_dir) for field in dataclasses.fields(event)
               if field.name not in ("job_id", "time")}
    return dataclasses.replace(event, **changes)
