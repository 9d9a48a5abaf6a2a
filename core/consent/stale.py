"""Stale marks in words: what is stale, why, since when, and the commands that rebuild it.

The artefact registry (``storage.artifacts``) marks stale whatever holds, or was trained on, the text of someone who
opted out or was forgotten; these lines say so to the user (the CLI, the panel, the bot refusing a stale model,
training refusing a stale dataset), and ``write_markers`` drops a STALE file into each folder for the tools that read
folders rather than the database.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from core.config.workspace import atomic_write_text
from core.consent.markers import STALE_NAME
from storage import artifacts
from storage.artifacts import Artifact

REBUILD = {  # the commands that rebuild an artifact of each kind, as one stale line names them
    "dataset": "launcher.py prepare",
    "run": "launcher.py prepare, then launcher.py train",
    "export": "launcher.py prepare, launcher.py train, then launcher.py export NEW_RUN",
    "model": "launcher.py prepare, launcher.py train, then launcher.py export NEW_RUN",
    "eval": "launcher.py prepare, launcher.py train, then launcher.py eval NEW_RUN",
    "memory": "launcher.py embed",
}


def rebuild_command(kind: str) -> str:
    return REBUILD.get(kind, REBUILD["dataset"])


def stale_line(artifact: Artifact, subject: str | None = None, rebuild_kind: str | None = None) -> str:
    """One line: what is stale, why and since when, and the commands that rebuild it (those of ``rebuild_kind``
    when the stale artifact is what ``subject`` was built from)."""
    subject = subject or f"the {artifact.kind} {artifact.path}"
    return (f"{subject} is stale: {artifact.stale_reason} (since {artifact.stale_since}); "
            f"rebuild: {rebuild_command(rebuild_kind or artifact.kind)}")


def stale_message(conn: sqlite3.Connection, path: Path | str, subject: str | None = None) -> str | None:
    """The refusal line for a stale artifact at or above ``path`` (the bot uses it for a GGUF), or None."""
    artifact = artifacts.stale_artifact(conn, path)
    return stale_line(artifact, subject) if artifact else None


def write_markers(marked: list[Artifact], note: str = "") -> list[str]:
    """A STALE file in each marked artifact folder that exists (read by ``writer.stale_reason``); returns their
    paths. It holds the reason, the date and the rebuild commands, never a name or a message."""
    written = []
    for artifact in marked:
        folder = Path(artifact.path)
        if folder.is_dir():
            atomic_write_text(folder / STALE_NAME, f"{artifact.stale_reason} (since {artifact.stale_since}){note}; "
                                                   f"rebuild: {rebuild_command(artifact.kind)}\n")
            written.append(artifact.path)
    return written
