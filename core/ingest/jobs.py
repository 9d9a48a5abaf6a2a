"""The import as a job: ``import_job`` builds the JobSpec the panel (or any caller) hands to ``JobRunner.start``.

The worker is ``core.ingest.import_worker`` (``launcher.py --worker import``). ``options`` are passed through to
``import_paths`` unchanged (as JSON), so a new importer option needs no change here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from core.jobs.specs import JobSpec, workspace_job


def import_job(workspace, paths: Iterable[Path | str], **options: Any) -> JobSpec:
    """Import ``paths`` (export files, folders, .zip archives) into ``workspace``'s database in a worker."""
    resolved = [str(Path(path).expanduser().resolve()) for path in paths]
    if not resolved:
        raise ValueError("import_job needs at least one path")
    return workspace_job("import", workspace, "--options", json.dumps(options, default=str), "--", *resolved)
