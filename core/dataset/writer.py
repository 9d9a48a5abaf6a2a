"""Dataset files on disk: the spool, the staged outputs, the atomic finish, the ``latest`` pointer, stale markers.

A dataset folder is complete when its ``stats.json`` exists: ``prepare`` deletes an old one first, stages every
output in a hidden ``.staging-*`` folder beside it (locked by the job while it lives: ``.staging-*.lock``, so a
forget leaves a running job's folder to the job, which checks consent before publishing, and deletes a dead one's), moves each file in with ``os.replace`` and writes ``stats.json``
last, so a crash at any point leaves either the previous complete dataset or a folder without ``stats.json``.
``stats.json`` lists every output with its line count and SHA-256.

Spool lines (binary, one per candidate): ``kind \\t split \\t persona_id \\t key_bin \\t speakers \\t json``;
``kind`` is ``e`` (example) or ``d`` (DPO pair); ``speakers`` the comma-separated ids of everyone whose text the line
holds (the persona, the context's speakers, a DPO pair's rejected author), for ``stats.json``'s ``people``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from core.config.workspace import atomic_write_text
from core.consent.markers import STAGING_PREFIX, STALE_NAME, staging_lock_path

OUTPUT_NAMES = ("train.jsonl", "val.jsonl", "test.jsonl", "dpo.jsonl")
STATS_NAME, PREVIEW_NAME = "stats.json", "preview.txt"
PER_PERSONA_DIR = "personas"
EXPORT_DIRS = ("llamafactory", "axolotl", "openai")  # core.dataset.formats writes these beside the splits
LATEST_POINTER = "latest"  # a text file in the datasets folder naming the newest complete dataset folder
MAX_OPEN_FILES = 64        # per-persona sets can mean thousands of files; keep this many handles open at once


class Spool:
    def __init__(self, path: Path):
        self.path = path
        self._handle = open(path, "wb", buffering=1 << 20)

    def add(self, kind: bytes, split: str, persona_id: int, key_bin: int, payload: bytes,
            speakers=()) -> None:
        people = b",".join(b"%d" % speaker for speaker in speakers)
        self._handle.write(b"%s\t%s\t%d\t%d\t%s\t%s\n" % (kind, split.encode(), persona_id, key_bin, people,
                                                         payload))

    def close(self) -> None:
        self._handle.close()

    def records(self):
        """(kind, split, persona_id, key_bin, speakers, payload) for every spooled line, in write order; speakers
        are the raw comma-separated ids."""
        with open(self.path, "rb", buffering=1 << 20) as handle:
            for line in handle:
                kind, split, persona, key_bin, speakers, payload = line.rstrip(b"\n").split(b"\t", 5)
                yield kind, split.decode(), int(persona), int(key_bin), speakers, payload


class OutputFile:
    """A staged JSONL output; counts lines and hashes bytes as they are written."""

    def __init__(self, path: Path, pool: "OpenFiles"):
        self.path, self.pool = path, pool
        self.lines, self.size = 0, 0
        self.digest = hashlib.sha256()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def write(self, payload: bytes) -> None:
        data = payload + b"\n"
        self.pool.handle(self.path).write(data)
        self.digest.update(data)
        self.lines += 1
        self.size += len(data)

    def summary(self) -> dict:
        return {"lines": self.lines, "bytes": self.size, "sha256": self.digest.hexdigest()}


class OpenFiles:
    """An LRU of append handles, so any number of outputs can be written with few open files."""

    def __init__(self, limit: int = MAX_OPEN_FILES):
        self.limit = limit
        self._handles: OrderedDict[Path, object] = OrderedDict()

    def handle(self, path: Path):
        handle = self._handles.get(path)
        if handle is not None:
            self._handles.move_to_end(path)
            return handle
        if len(self._handles) >= self.limit:
            self._handles.popitem(last=False)[1].close()
        handle = self._handles[path] = open(path, "ab", buffering=1 << 18)
        return handle

    def close(self) -> None:
        while self._handles:
            self._handles.popitem()[1].close()


class Staging:
    """The hidden folder beside the final outputs where everything is written first, locked while the job lives."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.created = not out_dir.exists()  # a failed run removes the folder again only if it made it
        out_dir.mkdir(parents=True, exist_ok=True)
        for leftover in out_dir.glob(f"{STAGING_PREFIX}*"):  # a crashed earlier run's; never looks like a dataset
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
        self.lock = FileLock(str(staging_lock_path(self.root)), is_singleton=True)
        self.lock.acquire(timeout=0)  # a fresh name: nobody else holds it
        self.pool = OpenFiles()
        self.files: dict[str, OutputFile] = {}

    def output(self, relative: str) -> OutputFile:
        output = self.files.get(relative)
        if output is None:
            output = self.files[relative] = OutputFile(self.root / relative, self.pool)
        return output

    def publish(self, stats: dict, preview: str) -> None:
        """Move the staged outputs in, then write the preview and stats.json (the completeness marker) last."""
        self.pool.close()
        (self.out_dir / STATS_NAME).unlink(missing_ok=True)  # from here on the folder is not a complete dataset
        for name in OUTPUT_NAMES:
            (self.out_dir / name).unlink(missing_ok=True)
        (self.out_dir / STALE_NAME).unlink(missing_ok=True)
        shutil.rmtree(self.out_dir / PER_PERSONA_DIR, ignore_errors=True)
        for name in EXPORT_DIRS:  # an earlier build's exports: they would hold the old examples beside the new ones
            shutil.rmtree(self.out_dir / name, ignore_errors=True)
        staged_personas = self.root / PER_PERSONA_DIR
        if staged_personas.exists():
            os.replace(staged_personas, self.out_dir / PER_PERSONA_DIR)
        for name in OUTPUT_NAMES:
            if (self.root / name).exists():
                os.replace(self.root / name, self.out_dir / name)
        atomic_write_text(self.out_dir / PREVIEW_NAME, preview)
        atomic_write_text(self.out_dir / STATS_NAME, json.dumps(stats, ensure_ascii=False, indent=2) + "\n")
        self.discard()

    def discard(self) -> None:
        self.pool.close()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.lock.is_locked:
            self.lock.release()
        staging_lock_path(self.root).unlink(missing_ok=True)
        if self.created and not (self.out_dir / STATS_NAME).exists() and not any(self.out_dir.iterdir()):
            self.out_dir.rmdir()


def new_dataset_dir(datasets_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    folder, number = datasets_dir / stamp, 1
    while folder.exists():
        number += 1
        folder = datasets_dir / f"{stamp}-{number}"
    return folder


def set_latest(datasets_dir: Path, folder: Path) -> None:
    atomic_write_text(datasets_dir / LATEST_POINTER, folder.name + "\n")


def latest_dataset(datasets_dir: Path) -> Path | None:
    """The newest complete dataset folder that ``prepare`` wrote with its default ``--out``, or None."""
    pointer = datasets_dir / LATEST_POINTER
    if not pointer.is_file():
        return None
    folder = datasets_dir / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / STATS_NAME).is_file() else None


def mark_stale(folder: Path | str, reason: str) -> bool:
    """Drop a STALE marker into an artifact folder that exists (the training worker and the bot check for it)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(folder / STALE_NAME, f"{reason} ({stamp}); rebuild it (`prepare`) before using it\n")
    return True


def stale_reason(folder: Path | str) -> str | None:
    """Why a dataset (or any artifact folder) is stale, or None when it is not marked."""
    marker = Path(folder) / STALE_NAME
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
