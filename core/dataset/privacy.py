"""Opt-out and forget across every file we wrote: stale marks, deleted text files, the weights that stay (named).

``opt_out`` records consent and marks stale each artifact holding the user's text (``storage.artifacts`` knows whose
text each holds), with a STALE file in each folder. ``forget`` goes further, in an order that can be rerun: it finds
the user's text while it is still stored, marks the artifacts holding it stale, empties them (below), searches every
other file in the workspace for the text (``text_scan``), and only then deletes the messages from the database and
empties its write-ahead log (``storage.personas.forget_user``). A file that cannot be deleted stops it before the
database is touched, so running it again finds the text again.

Emptying an artifact holding the text:
- a dataset or an evaluation: every file in it is deleted (splits, preview, stats, reports, blind A/B files, logs);
- a run or an export: model weights (checkpoints, adapter, merged model, GGUF) are kept, marked stale and named;
  model metadata and job records (config, state, tokenizer files, run.log, metrics.jsonl, quantize.log) are kept
  unless the search finds the text in them; every other file (smoke.json, prompts, anything unknown) is deleted;
- a memory index: the user's rows are deleted with their old versions (``storage.memory.forget_authors``); the
  whole folder goes when that fails or the search still finds their text in it (``embed`` rebuilds it).
"""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from core.config.workspace import atomic_write_text
from core.dataset.text_scan import TextFinder
from core.dataset.writer import STALE_NAME
from storage import artifacts, personas as store
from storage.artifacts import Artifact
from storage.wal import DEFAULT_TIMEOUT_S

REBUILD = {  # the commands that rebuild an artifact of each kind, as one stale line names them
    "dataset": "launcher.py prepare",
    "run": "launcher.py prepare, then launcher.py train",
    "export": "launcher.py prepare, launcher.py train, then launcher.py export NEW_RUN",
    "model": "launcher.py prepare, launcher.py train, then launcher.py export NEW_RUN",
    "eval": "launcher.py prepare, launcher.py train, then launcher.py eval NEW_RUN",
    "memory": "launcher.py embed",
}
WHOLLY_TEXT = ("dataset", "eval")  # every file of these is built from messages
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".onnx")
KEPT_UNLESS_FOUND = {  # model metadata and job records: no message text unless the search finds some
    "config.json", "state.json", "generation_config.json", "adapter_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
    "chat_template.jinja", "trainer_state.json", "README.md", "Modelfile", "export.json", "run.log",
    "metrics.jsonl", "quantize.log", STALE_NAME}
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")
MEMORY_DIR = "memory"  # Workspace.memory_dir


class PrivacyError(Exception):
    """Forget could not remove the text from a file; nothing in the database was deleted yet."""


@dataclass
class Purge:
    deleted: list[str] = field(default_factory=list)       # files deleted (or folders, for a memory index)
    stale_weights: list[str] = field(default_factory=list)  # model weights kept, stale


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


def opt_out(conn: sqlite3.Connection, user_id: int) -> list[Artifact]:
    """Record the opt-out; returns the artifacts it made stale (each folder also gets a STALE file)."""
    marked = store.set_opted_out(conn, user_id, True)
    write_markers(marked)
    return marked


@dataclass
class ForgetReport:
    result: store.ForgetResult
    purge: Purge

    def as_json(self) -> dict:
        busy, log, done = self.result.checkpoint
        return {"user_id": str(self.result.user_id), "messages_deleted": self.result.messages,
                "reactions_deleted": self.result.reactions, "opted_out": True,
                "stale_artifacts": [artifact.path for artifact in self.result.stale],
                "stale": [{"kind": a.kind, "path": a.path, "reason": a.stale_reason, "rebuild": rebuild_command(a.kind)}
                          for a in self.result.stale],
                "deleted_files": self.purge.deleted, "stale_weights": self.purge.stale_weights,
                "wal_checkpoint": {"busy": busy, "log": log, "checkpointed": done}}


def forget(conn: sqlite3.Connection, workspace_root: Path, user_id: int, *,
           checkpoint_timeout: float = DEFAULT_TIMEOUT_S) -> ForgetReport:
    """Remove the user's text from every file and then from the database (see the module docstring)."""
    finder = TextFinder(store.user_message_texts(conn, user_id))
    with store.transaction(conn):
        holding = artifacts.mark_stale_for_user(conn, user_id, store.forgotten_reason(user_id), include_stale=True)
    purge = Purge()
    for artifact in holding:
        empty_artifact(artifact, finder, purge, user_id)
    forget_memory(Path(workspace_root) / MEMORY_DIR, user_id, purge)  # registered or not: it holds live text
    sweep(Path(workspace_root), finder, purge)
    write_markers(holding, "; the files holding their text were deleted")
    result = store.forget_user(conn, user_id, checkpoint_timeout=checkpoint_timeout)
    return ForgetReport(result, purge)


def is_weights(path: Path) -> bool:
    return path.name.endswith(WEIGHT_SUFFIXES)


def empty_artifact(artifact: Artifact, finder: TextFinder, purge: Purge, user_id: int) -> None:
    root = Path(artifact.path)
    if artifact.kind == "memory":
        forget_memory(root, user_id, purge)
        return
    files = [root] if root.is_file() else sorted(path for path in root.rglob("*") if path.is_file())
    for path in files:
        if path.name == STALE_NAME:  # holds no message; rewritten below
            continue
        if artifact.kind in WHOLLY_TEXT:
            remove(path, purge)
        elif is_weights(path):
            if str(path) not in purge.stale_weights:  # a run's folder holds its export's weights too
                purge.stale_weights.append(str(path))
        elif path.name not in KEPT_UNLESS_FOUND or finder.found_in(path):
            remove(path, purge)


def forget_memory(folder: Path, user_id: int, purge: Purge) -> None:
    """Delete the user's rows from the memory index (and its old versions); the whole folder when that fails."""
    if not folder.exists():
        return
    try:
        from storage.memory import forget_authors
        forget_authors(folder, [user_id])
    except Exception:  # lancedb missing or the index unreadable: the text must go anyway; `embed` rebuilds it
        remove(folder, purge)


def sweep(root: Path, finder: TextFinder, purge: Purge, database_name: str = "studio.db") -> None:
    """Delete every other file in the workspace that holds the text (a memory index goes as a whole)."""
    if not finder or not root.is_dir():
        return
    skipped = {root / f"{database_name}{suffix}" for suffix in DATABASE_SUFFIXES}
    memory = root / MEMORY_DIR
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path in skipped or is_weights(path) or not path.exists():
            continue
        try:
            found = finder.found_in(path)
        except OSError as exc:
            raise PrivacyError(f"{path}: cannot be read to check it for the user's text ({exc}); "
                               f"nothing was deleted from the database") from None
        if found:
            remove(memory if memory in path.parents else path, purge)


def remove(path: Path, purge: Purge) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise PrivacyError(f"{path}: holds the user's text and cannot be deleted ({exc}); close the program using "
                           f"it and run forget again (nothing was deleted from the database yet)") from None
    purge.deleted.append(str(path))
