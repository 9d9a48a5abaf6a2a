"""``prepare`` as a job: ``prepare_job`` builds the JobSpec for ``JobRunner.start`` (worker:
``core.dataset.prepare_worker``, ``launcher.py --worker prepare``)."""
from __future__ import annotations

from pathlib import Path

from core.jobs.specs import JobSpec, workspace_job


def prepare_job(workspace, *, out: Path | str | None = None, personas: str = "all", strategy: str = "multi",
                min_messages: int | None = None, split_by: str | None = None, seed: int | None = None,
                format: str = "chatml") -> JobSpec:
    """Prepare a dataset from ``workspace``'s history; the options are the ``prepare`` command's. ``format`` is a
    trainer's format written with it; a hosted service's is written afterwards, once confirmed (``dataset-format``)."""
    args = ["--personas", personas, "--strategy", strategy, "--format", format]
    for flag, value in (("--out", out), ("--min-messages", min_messages), ("--split-by", split_by),
                        ("--seed", seed)):
        if value is not None:
            args += [flag, str(Path(value).expanduser().resolve()) if flag == "--out" else str(value)]
    return workspace_job("prepare", workspace, *args)
