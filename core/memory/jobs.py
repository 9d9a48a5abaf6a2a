"""The embed job's spec: ``python launcher.py --worker embed --workspace DIR`` through the job runner.

The worker (``model.embed_worker``) is named by string, so this module, and the app process, never import it.
Its record (run.log, metrics.jsonl, state.json) is ``WORKSPACE/memory_job``, beside the memory folder: LanceDB owns
every file inside ``memory/``.
"""
from __future__ import annotations

from pathlib import Path

from core.jobs.runner import JobSpec, worker_argv

JOB_FOLDER = "memory_job"


def job_dir(workspace) -> Path:
    return Path(workspace.root) / JOB_FOLDER


def embed_job(workspace, *, batch_size: int | None = None) -> JobSpec:
    """Embed every stored message not embedded yet into the workspace's memory folder."""
    args = ["--workspace", str(workspace.root)]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    return JobSpec(name="embed", argv=worker_argv("embed", *args), run_dir=job_dir(workspace), stop_grace=60.0)
