"""The persona a model answers as when the owner chose none: the one with the most training examples in the dataset
the model was trained on.

A GGUF leads to its run: a file inside ``WORKSPACE/runs/<run>/`` (the export worker writes ``export/``), or one in a
folder the export registered as built from its run (``export --out DIR``). The run's config snapshot names its
dataset (``data_dir``; the run's artifact row records it too), and the dataset's ``stats.json`` counts each persona's
training examples (``personas: [{id, name, train, ...}]``). A GGUF without a run (placed by hand under
``WORKSPACE/models``), or whose dataset's stats are gone, falls back to the author with the most messages, and ``why``
says so. An opted-out or forgotten person is never chosen: the next one is. The name is the one prompts use
(``core.dataset.personas.load_persona``: the owner's edit, scrubbed), not the one stats.json recorded.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from core.config.workspace import Workspace
from core.dataset import DatasetError
from core.dataset.personas import load_persona, message_counts
from core.dataset.writer import STATS_NAME
from core.jobs import runs
from storage import artifacts
from storage.consent import opted_out_users

DATA_DIR_KEY = "data_dir"  # where the run's config snapshot names its dataset (core.training.launch.plan_new_run)


@dataclass(frozen=True)
class DefaultPersona:
    id: int
    name: str              # as in the system prompt (load_persona: edited name, scrubbed)
    examples: int | None   # its training examples in the model's dataset; None when that dataset is unknown
    why: str               # one line for the owner: "Wren: the most training examples (412) in the dataset of run X"

    @property
    def reason(self) -> str:
        """``why`` without the name in front (for a screen that shows the name already)."""
        prefix = f"{self.name}: "
        return self.why[len(prefix):] if self.why.startswith(prefix) else self.why


def default_persona(conn: sqlite3.Connection, workspace: Workspace, model_path: Path | str) -> DefaultPersona | None:
    """The persona ``model_path`` answers as when none is chosen; None when nobody it learned may be one."""
    model_path = Path(model_path).expanduser().resolve()
    run_dir = run_of_model(conn, workspace, model_path)
    if run_dir is None:
        return _most_messages(conn, f"{model_path.name} comes from no training run")
    trained = dataset_personas(conn, run_dir)
    if trained is None:
        return _most_messages(conn, f"the dataset of run {run_dir.name} has no readable {STATS_NAME}")
    # The model learned only these personas: when all of them are out, nobody else is a fair stand-in.
    return _most_examples(conn, trained, run_dir.name)


def run_of_model(conn: sqlite3.Connection, workspace: Workspace, model_path: Path) -> Path | None:
    """The run folder a GGUF was exported from, or None (a GGUF placed by hand)."""
    runs_dir = workspace.runs_dir.resolve()
    if model_path.is_relative_to(runs_dir):
        parts = model_path.relative_to(runs_dir).parts
        if len(parts) > 1 and (runs_dir / parts[0] / runs.CONFIG_FILE).is_file():
            return runs_dir / parts[0]
    for artifact in artifacts.enclosing(conn, model_path):  # an export written elsewhere with --out
        if artifact.kind == "export" and artifact.built_from:
            run_dir = Path(artifact.built_from)
            if (run_dir / runs.CONFIG_FILE).is_file():
                return run_dir
    return None


def dataset_personas(conn: sqlite3.Connection, run_dir: Path) -> list[tuple[int, int]] | None:
    """(persona id, training examples) from the run's dataset stats, most examples first; None when unreadable."""
    data_dir = runs.read_config(run_dir).get(DATA_DIR_KEY)
    if not data_dir:
        artifact = artifacts.find(conn, run_dir)
        data_dir = artifact.built_from if artifact else None
    if not data_dir:
        return None
    entries = runs.read_json(Path(data_dir) / STATS_NAME).get("personas")
    if not isinstance(entries, list):
        return None
    found = []
    for entry in entries:
        try:
            found.append((int(entry["id"]), int(entry.get("train") or 0)))
        except (TypeError, KeyError, ValueError):
            continue  # a hand-edited or foreign stats file: skip what is not a persona row
    return sorted(found, key=lambda item: -item[1])  # stable: ties keep the dataset's order


def _most_examples(conn: sqlite3.Connection, trained: list[tuple[int, int]], run_name: str) -> DefaultPersona | None:
    excluded, skipped = opted_out_users(conn), 0
    for user_id, examples in trained:
        if examples <= 0:
            break  # selected but never a training target: the model did not learn to write as them
        name = _usable_name(conn, user_id, excluded)
        if name is None:
            skipped += 1
            continue
        why = f"{name}: the most training examples ({examples}) in the dataset of run {run_name}{_skip_note(skipped)}"
        return DefaultPersona(user_id, name, examples, why)
    return None


def _most_messages(conn: sqlite3.Connection, reason: str) -> DefaultPersona | None:
    excluded, skipped = opted_out_users(conn), 0
    for user_id, count in message_counts(conn).items():
        name = _usable_name(conn, user_id, excluded)
        if name is None:
            skipped += 1
            continue
        why = f"{name}: the most messages ({count}){_skip_note(skipped)}; {reason}, so no training examples to count"
        return DefaultPersona(user_id, name, None, why)
    return None


def _usable_name(conn: sqlite3.Connection, user_id: int, excluded: dict) -> str | None:
    if user_id in excluded:
        return None
    try:
        return load_persona(conn, user_id).name
    except DatasetError:  # no user row: forgotten (or a stats file from another database)
        return None


def _skip_note(skipped: int) -> str:
    return f" ({skipped} with more opted out or gone)" if skipped else ""
