"""Building the JobSpec of a light worker (import, prepare, fetch): its argv and its job folder.

Training runs get a run folder under ``runs/`` (``core.jobs.runs``); the light jobs get a job folder under the
workspace's ``logs/jobs/`` instead (run.log, metrics.jsonl, state.json and the STOP file, but no config.json, so the
runs list never shows them). The capability packages build their specs with ``workspace_job``
(``core.ingest.jobs.import_job``, ``core.dataset.jobs.prepare_job``, ``core.fetching.jobs.fetch_job``).
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from core.jobs.runner import JobSpec, worker_argv

JOBS_DIR = "jobs"
LIGHT_STOP_GRACE = 60.0  # a batch commit, a prepare block or one Discord page (with its rate-limit wait)


def new_job_dir(logs_dir: Path, name: str) -> Path:
    """A fresh, empty job folder: ``logs/jobs/20261201-093012-import-1a2b``."""
    folder = logs_dir / JOBS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        job_dir = folder / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{name}-{secrets.token_hex(2)}"
        try:
            job_dir.mkdir()
            return job_dir
        except FileExistsError:
            continue


def workspace_job(name: str, workspace, *args: str, secret_stdin: str | None = None,
                  env: dict[str, str] | None = None) -> JobSpec:
    """The spec of ``launcher.py --worker NAME --workspace ROOT ARGS...`` with a job folder of its own."""
    return JobSpec(name=name, argv=worker_argv(name, "--workspace", str(workspace.root), *args),
                   run_dir=new_job_dir(workspace.logs_dir, name), env=dict(env or {}),
                   stop_grace=LIGHT_STOP_GRACE, terminate_grace=5.0, secret_stdin=secret_stdin)
