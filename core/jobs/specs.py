"""What a job is before it runs: ``JobSpec``, worker command lines, job ids, and the specs of the light workers.

Training runs get a run folder under ``runs/`` (``core.jobs.runs``); the light jobs get a job folder under the
workspace's ``logs/jobs/`` instead (run.log, metrics.jsonl, state.json and the STOP file, but no config.json, so the
runs list never shows them). The capability packages build their specs with ``workspace_job``
(``core.ingest.jobs.import_job``, ``core.dataset.jobs.prepare_job``, ``core.fetching.jobs.fetch_job``).
"""
from __future__ import annotations

import datetime as dt
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.config.resources import PROJECT_ROOT

JOBS_DIR = "jobs"
LIGHT_STOP_GRACE = 60.0  # a batch commit, a prepare block or one Discord page (with its rate-limit wait)


@dataclass(frozen=True)
class JobSpec:
    name: str                          # short kind ("train", "export"), shown in the GUI and job ids
    argv: tuple[str, ...]              # the full command line, executable first
    run_dir: Path | None = None        # the run folder: STOP file, run.log, metrics.jsonl, state.json
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the worker
    stop_grace: float = 120.0          # a training step plus a checkpoint save on a slow machine
    terminate_grace: float = 10.0      # after terminate, before kill
    # A secret (the bot token) written as the first stdin line: never in argv, env, repr or logs.
    secret_stdin: str | None = field(default=None, repr=False, compare=False)


def new_job_id(name: str) -> str:
    """A fresh job id for a job named ``name``: pass it to ``JobRunner.start`` after subscribing to it."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def worker_argv(name: str, *args: str) -> tuple[str, ...]:
    """The command line that runs worker ``name``: this interpreter + launcher.py, or the frozen executable; in the
    frozen app a heavy worker (training, export, eval, embed, convert) runs in the training runtime once one is
    installed (``core.config.runtime``; without one the executable says how to install it)."""
    if getattr(sys, "frozen", False):
        from core.config.runtime import runtime_worker_prefix
        prefix = runtime_worker_prefix(name)
        if prefix is not None:
            return (*prefix, "--worker", name, *args)
        return (sys.executable, "--worker", name, *args)
    return (sys.executable, str(PROJECT_ROOT / "launcher.py"), "--worker", name, *args)


def cli_argv(workspace, *args: str) -> tuple[str, ...]:
    """The command line of a CLI command (``launcher.py --workspace ROOT ARGS...``): this interpreter and
    launcher.py, or the frozen executable itself."""
    launcher = () if getattr(sys, "frozen", False) else (str(PROJECT_ROOT / "launcher.py"),)
    return (sys.executable, *launcher, "--workspace", str(workspace.root), *args)


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
