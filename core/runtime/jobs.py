"""The runtime install as a job: the spec the CLI and the panel start (``--worker runtime``)."""
from __future__ import annotations

from pathlib import Path

from core.jobs.specs import JobSpec, new_job_dir, worker_argv

INSTALL_STOP_GRACE = 600.0  # a torch wheel download finishes before the stop is seen


def runtime_install_job(logs_dir: Path, folder: Path, *, cuda: bool = False, python: Path | None = None,
                        link: Path | None = None) -> JobSpec:
    args = ["--folder", str(folder)] + (["--cuda"] if cuda else [])
    args += ["--python", str(python)] if python else []
    args += ["--link", str(link)] if link else []
    return JobSpec(name="runtime", argv=worker_argv("runtime", *args), run_dir=new_job_dir(logs_dir, "runtime"),
                   stop_grace=INSTALL_STOP_GRACE, terminate_grace=10.0)
