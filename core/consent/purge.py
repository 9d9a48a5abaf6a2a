"""Forget's cleaning of files: the artifacts built from a person's text, the memory, and every other file.

Emptying an artifact holding the text:
- a dataset or an evaluation: every file in it is deleted (splits, preview, stats, reports, blind A/B files, logs);
- a run or an export: model weights (checkpoints, adapter, merged model, GGUF) are kept, marked stale and named;
  model metadata and job records (config, state, tokenizer files, run.log, metrics.jsonl, quantize.log) are kept
  unless the search finds the text in them; every other file (smoke.json, prompts, anything unknown) is deleted;
- a memory index: the person's rows are deleted with their old versions (``storage.memory.forget_authors``); the
  whole folder goes when that fails or the search still finds their text in it (``embed`` rebuilds it).
Then ``sweep`` searches every other file of the workspace (``text_scan``) and deletes those holding the text. A
``prepare`` still running keeps its staging folder (``.staging-*``, locked by the job): that job checks consent
before it publishes and throws the folder away (``core.consent.guard``); a dead job's staging folder is deleted.
A file that cannot be deleted stops the forget before the database is touched, so running it again finds the text
again.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from core.consent.text_scan import TextFinder
from core.consent.markers import STAGING_PREFIX, STALE_NAME, staging_lock_path
from storage.artifacts import Artifact

WHOLLY_TEXT = ("dataset", "eval")  # every file of these is built from messages
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".onnx")
KEPT_UNLESS_FOUND = {  # model metadata and job records: no message text unless the search finds some
    "config.json", "state.json", "generation_config.json", "adapter_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
    "chat_template.jinja", "trainer_state.json", "README.md", "Modelfile", "export.json", "run.log",
    "metrics.jsonl", "quantize.log", STALE_NAME}
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".consent.lock")
MEMORY_DIR = "memory"  # Workspace.memory_dir


class PrivacyError(Exception):
    """Forget could not remove the text from a file; nothing in the database was deleted yet."""


@dataclass
class Purge:
    deleted: list[str] = field(default_factory=list)       # files deleted (or folders, for a memory index)
    stale_weights: list[str] = field(default_factory=list)  # model weights kept, stale


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


def forget_memory(folder: Path, user_id: int, purge: Purge) -> int:
    """Delete the user's rows from the memory index (and its old versions); the whole folder when that fails."""
    if not folder.exists():
        return 0
    try:
        from storage.memory import forget_authors
        return forget_authors(folder, [user_id])
    except Exception:  # lancedb missing or the index unreadable: the text must go anyway; `embed` rebuilds it
        remove(folder, purge)
        return 0


def sweep(root: Path, finder: TextFinder, purge: Purge, database_name: str = "studio.db") -> None:
    """Delete every other file in the workspace that holds the text (a memory index goes as a whole)."""
    if not finder or not root.is_dir():
        return
    skipped = {root / f"{database_name}{suffix}" for suffix in DATABASE_SUFFIXES}
    memory = root / MEMORY_DIR
    live_staging = live_staging_folders(root, purge)
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path in skipped or is_weights(path) or not path.exists():
            continue
        if any(folder in path.parents for folder in live_staging):
            continue  # a running prepare's: it checks consent before publishing and discards it
        try:
            found = finder.found_in(path)
        except OSError as exc:
            raise PrivacyError(f"{path}: cannot be read to check it for the user's text ({exc}); "
                               f"nothing was deleted from the database") from None
        if found:
            remove(memory if memory in path.parents else path, purge)


def live_staging_folders(root: Path, purge: Purge) -> list[Path]:
    """The ``.staging-*`` folders of jobs still running; those of dead jobs are deleted here."""
    live = []
    for folder in sorted(root.rglob(f"{STAGING_PREFIX}*")):
        if not folder.is_dir():
            continue
        lock = FileLock(str(staging_lock_path(folder)), is_singleton=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            live.append(folder)
            continue
        try:
            remove(folder, purge)
        finally:
            lock.release()
            staging_lock_path(folder).unlink(missing_ok=True)
    return live


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
