"""Named points where a worker can be held still, so a test can change the world mid-job (deterministically).

``DPS_PAUSE_AT="prepare.first_pass=/tmp/gate"`` (several separated by ``;``): when the worker reaches the named
point it creates ``/tmp/gate.reached`` and waits until ``/tmp/gate.go`` exists (or ``GIVE_UP_SECONDS`` pass). Unset,
a pause point costs one dictionary lookup. Used by the consent tests: pause a real ``prepare`` or ``embed``, forget
someone, let the job finish, and check that no file holds the person's text.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "DPS_PAUSE_AT"
GIVE_UP_SECONDS = 300.0
POLL_SECONDS = 0.02


def pause_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(";"):
        point, _, gate = item.partition("=")
        if point.strip() == name and gate.strip():
            hold(Path(gate.strip()))


def hold(gate: Path) -> None:
    gate.with_name(gate.name + ".reached").write_text("reached\n", encoding="utf-8")
    go = gate.with_name(gate.name + ".go")
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
