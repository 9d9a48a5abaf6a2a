"""Runs and what the workers build from them, as artifacts: registered before anything is written, refused when stale.

A run is registered when its folder is created (``plan_new_run``), as built from its dataset, so it holds the text
of the dataset's authors; the export and evaluation workers register their output folders (``RUN/export``,
``RUN/eval``) as built from the run before they write a file, so a crash mid-way still leaves them covered by an
opt-out or a forget. ``train --resume``, ``export``, ``eval`` and the workers refuse a stale run with one line
naming the reason and the commands that rebuild it.

Workers find the workspace database through the run: ``config.json`` records it (``database``); an older run folder
inside ``WORKSPACE/runs/`` finds ``WORKSPACE/studio.db``.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from core.consent.stale import stale_line
from core.dataset.writer import stale_reason as marker_reason
from core.jobs import runs
from storage import artifacts

DATABASE_KEY = "database"
DATABASE_NAME = "studio.db"


def register_run(conn: sqlite3.Connection, run_dir: Path, data_dir: Path) -> None:
    """The run holds (was trained on) the text of whoever the dataset holds; unknown when the dataset is unknown."""
    artifacts.register_derived(conn, "run", run_dir, data_dir)


def run_stale_message(conn: sqlite3.Connection, run_dir: Path) -> str | None:
    """One line when the run (or the dataset it was trained on) is stale, else None."""
    run_dir = Path(run_dir)
    subject = f"run {run_dir.name}"
    artifact = artifacts.stale_artifact(conn, run_dir)
    if artifact is not None:
        return stale_line(artifact, subject)
    data_dir = runs.read_config(run_dir).get("data_dir")
    dataset = artifacts.stale_artifact(conn, data_dir) if data_dir else None
    if dataset is not None:  # a run registered before its dataset was known (or not at all)
        return stale_line(dataset, f"{subject} was trained on the dataset {data_dir}, which", "run")
    marker = marker_reason(run_dir)
    if marker:
        return f"{subject} is stale: {marker}"
    return None


def database_for_run(run_dir: Path) -> Path | None:
    """The workspace database the run belongs to, or None when it cannot be found."""
    run_dir = Path(run_dir).resolve()
    recorded = runs.read_config(run_dir).get(DATABASE_KEY)
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    guess = run_dir.parent.parent / DATABASE_NAME
    return guess if run_dir.parent.name == "runs" and guess.is_file() else None


def register_run_output(run_dir: Path, kind: str, out_dir: Path) -> str | None:
    """For a worker: refuse a stale run (the refusal line is returned), else register ``out_dir`` as built from
    it. Prints a note and returns None when the run belongs to no workspace database (nothing to register in)."""
    from storage.db import connect
    database = database_for_run(run_dir)
    if database is None:
        marker = marker_reason(run_dir)
        if marker:
            return f"run {Path(run_dir).name} is stale: {marker}"
        print(f"note: no workspace database found for {run_dir}; {out_dir} is not registered as an artifact",
              flush=True)
        return None
    conn = connect(database)
    try:
        refusal = run_stale_message(conn, run_dir)
        if refusal is None:
            artifacts.register_derived(conn, kind, out_dir, run_dir)
        return refusal
    finally:
        conn.close()
