"""Names on disk that consent relies on: the STALE marker file and a running job's locked staging folder.

Here rather than in ``core.dataset`` so that ``core.consent`` needs nothing of the dataset code (which uses these).
"""
from __future__ import annotations

from pathlib import Path

STALE_NAME = "STALE"             # a file in an artifact folder: why it is stale and what rebuilds it
STAGING_PREFIX = ".staging-"     # a job's hidden folder beside its outputs, written before they are published


def staging_lock_path(folder: Path) -> Path:
    """The lock file a job holds for its staging folder while it lives (beside it: deleting the folder never
    deletes a held lock)."""
    return folder.with_name(folder.name + ".lock")
