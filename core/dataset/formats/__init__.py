"""A prepared dataset in another trainer's or a hosted service's format: ``DATASET/NAME/`` beside our own files.

``chatml`` is our own files (nothing more is written); ``llamafactory`` and ``axolotl`` are for other trainers on
another machine; ``openai`` is for hosted fine-tuning (OpenAI, Together, Fireworks) and is written only after the
owner confirms how many people's messages leave the machine (the caller asks: ``core.dataset.leaving``). A
per-persona dataset gets the format in each ``personas/ID/`` folder.

Written after the dataset is published, atomically: each format folder is built in a hidden ``.staging-*`` folder
beside it, locked while the export lives (so a forget leaves it to the export, as it does a running prepare's), and
moved into place under the consent lock only if nobody opted out since the export began
(``core.consent.guard``); otherwise it is thrown away. The folders sit inside the dataset folder, which is
registered as holding people's text: forget deletes every file in it, subfolders included (``core.consent.purge``),
and an opt-out marks it stale. A stale dataset is not exported.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from filelock import FileLock

from core.config.training import TrainingConfig
from core.consent.guard import ConsentGuard
from core.consent.markers import STAGING_PREFIX, STALE_NAME, staging_lock_path
from core.dataset import DatasetError

FORMATS = ("chatml", "llamafactory", "axolotl", "openai")
HOSTED = ("openai",)                       # formats whose files are made to leave the machine
PER_PERSONA_DIR, STATS_NAME = "personas", "stats.json"   # core.dataset.writer's names
DEFAULT_HUB_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the offline default base model's own repository


@dataclasses.dataclass
class ExportOptions:
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    base_model: str = DEFAULT_HUB_MODEL   # what a trainer's config loads (a hub id or a folder on that machine)
    people: int | None = None             # confirmed count of people whose messages leave (hosted formats)


def writer(name: str):
    if name == "llamafactory":
        from core.dataset.formats import llamafactory
        return llamafactory.write
    if name == "axolotl":
        from core.dataset.formats import axolotl
        return axolotl.write
    if name == "openai":
        from core.dataset.formats import openai
        return openai.write
    raise DatasetError(f"--format must be one of {', '.join(FORMATS)}, not {name!r}")


def set_folders(data_dir: Path) -> list[Path]:
    """The folders holding one set of splits: the dataset itself, or each persona's folder."""
    per_persona = data_dir / PER_PERSONA_DIR
    if per_persona.is_dir() and not (data_dir / "train.jsonl").exists():
        return sorted(folder for folder in per_persona.iterdir() if folder.is_dir())
    return [data_dir]


def export_format(conn: sqlite3.Connection, data_dir: Path, name: str, options: ExportOptions) -> dict:
    """Write format ``name`` of the dataset at ``data_dir`` (see the module docstring); returns what was written:
    ``{"format", "folders": [{"path", ...the writer's summary}]}``."""
    data_dir = Path(data_dir)
    if name == "chatml":
        return {"format": name, "folders": []}
    write = writer(name)
    if not (data_dir / STATS_NAME).is_file():
        raise DatasetError(f"{data_dir} is not a complete dataset (no {STATS_NAME}): run `launcher.py prepare`")
    if (data_dir / STALE_NAME).is_file():
        raise DatasetError(f"{data_dir} is stale (someone opted out or was forgotten since it was built): run "
                           f"`launcher.py prepare` again before exporting it")
    guard = ConsentGuard(conn)
    staged: list[tuple[Path, Path, FileLock, dict]] = []
    try:
        for folder in set_folders(data_dir):
            temp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
            lock = FileLock(str(staging_lock_path(temp)), is_singleton=True)
            lock.acquire(timeout=0)
            staged.append((folder, temp, lock, {}))
            staged[-1][3].update(write(folder, temp, options))
        with guard.publishing() as newly_opted_out:
            if newly_opted_out:
                raise DatasetError(f"{len(newly_opted_out)} people opted out or were forgotten during the export; "
                                   f"nothing was written: run `launcher.py prepare` again")
            for folder, temp, _, _ in staged:
                final = folder / name
                if final.exists():
                    shutil.rmtree(final)
                os.replace(temp, final)
    finally:
        for _, temp, lock, _ in staged:
            shutil.rmtree(temp, ignore_errors=True)
            if lock.is_locked:
                lock.release()
            staging_lock_path(temp).unlink(missing_ok=True)
    return {"format": name, "folders": [{"path": str(folder / name), **summary}
                                        for folder, _, _, summary in staged]}
