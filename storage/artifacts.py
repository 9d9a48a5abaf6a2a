"""Artifacts in SQLite: what was built from the messages, from whose messages, and whether it is stale.

An artifact is a folder or file this app wrote from the stored history: a dataset, a training run (checkpoints,
adapter, logs), an export (merged model, GGUF, smoke test), an evaluation (report, blind A/B files), a memory index.
Each row records the artifact it was built from (``built_from``) and, in ``artifact_users``, every author whose
text it holds or was trained on. A row whose users are not known (``users_known = 0``: registered before migration
0003, or a folder this app did not write) counts as holding everyone's text, so a privacy mark never misses it.

A stale artifact stays in the table with its reason; registering the same path again (a rebuild) clears the mark.
Paths are stored resolved; ``stale_reason`` also answers for anything inside a registered folder (a GGUF inside a
run's export folder is as stale as the run).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

KINDS = ("dataset", "run", "export", "eval", "memory", "model")


@dataclass(frozen=True)
class Artifact:
    id: int
    kind: str
    path: str
    built_from: str | None
    users_known: bool
    stale_since: str | None
    stale_reason: str | None

    @property
    def stale(self) -> bool:
        return self.stale_since is not None


COLUMNS = "id, kind, path, built_from, users_known, stale_since, stale_reason"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def normal_path(path: Path | str) -> str:
    return str(Path(path).expanduser().resolve())


def _artifact(row) -> Artifact:
    return Artifact(int(row[0]), row[1], row[2], row[3], bool(row[4]), row[5], row[6])


def register(conn: sqlite3.Connection, kind: str, path: Path | str, *, users: Iterable[int] | None,
             built_from: Path | str | None = None) -> Artifact:
    """Record (or refresh) an artifact and whose text it holds (``users=None``: unknown, i.e. anyone's).

    A rebuild of the same path clears its stale mark and replaces its user list. Runs in its own transaction
    unless the caller already opened one."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r} (known: {', '.join(KINDS)})")
    user_ids = None if users is None else sorted({int(user) for user in users})
    owns_transaction = not conn.in_transaction
    if owns_transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "INSERT INTO artifacts (kind, path, built_at, built_from, users_known) VALUES (?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT(path) DO UPDATE SET kind = ?1, built_at = ?3, built_from = ?4, users_known = ?5, "
            "stale_since = NULL, stale_reason = NULL RETURNING id",
            (kind, normal_path(path), now_iso(), normal_path(built_from) if built_from else None,
             int(user_ids is not None))).fetchone()
        conn.execute("DELETE FROM artifact_users WHERE artifact_id = ?", (row[0],))
        conn.executemany("INSERT INTO artifact_users (artifact_id, user_id) VALUES (?, ?)",
                         [(row[0], user) for user in user_ids or ()])
        if owns_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if owns_transaction:
            conn.execute("ROLLBACK")
        raise
    return find(conn, path)


def register_derived(conn: sqlite3.Connection, kind: str, path: Path | str, parent: Path | str) -> Artifact:
    """Record an artifact built from another (a run from a dataset): it holds the parent's users' text."""
    return register(conn, kind, path, users=users_of(conn, parent), built_from=parent)


def find(conn: sqlite3.Connection, path: Path | str) -> Artifact | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM artifacts WHERE path = ?", (normal_path(path),)).fetchone()
    return _artifact(row) if row else None


def users_of(conn: sqlite3.Connection, path: Path | str) -> set[int] | None:
    """The authors whose text the artifact holds; None when unknown (or not registered): assume anyone's."""
    artifact = find(conn, path)
    if artifact is None or not artifact.users_known:
        return None
    return {int(user) for (user,) in conn.execute(
        "SELECT user_id FROM artifact_users WHERE artifact_id = ?", (artifact.id,))}


def holding_user(conn: sqlite3.Connection, user_id: int, *, fresh_only: bool = False) -> list[Artifact]:
    """Artifacts that hold (or were trained on) the user's text, or whose users are unknown; oldest first."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM artifacts WHERE (users_known = 0 OR id IN "
        f"(SELECT artifact_id FROM artifact_users WHERE user_id = ?)) "
        f"{'AND stale_since IS NULL ' if fresh_only else ''}ORDER BY id", (user_id,))
    return [_artifact(row) for row in rows]


def mark_stale(conn: sqlite3.Connection, artifacts: Iterable[Artifact], reason: str, *,
               replace_reason: bool = False) -> list[Artifact]:
    """Mark the given artifacts stale; an artifact already stale keeps its first date (and its reason unless
    ``replace_reason``). Returns them as now stored."""
    stamp = now_iso()
    ids = [artifact.id for artifact in artifacts]
    sql = ("UPDATE artifacts SET stale_since = COALESCE(stale_since, ?1), stale_reason = "
           + ("?2" if replace_reason else "COALESCE(stale_reason, ?2)") + " WHERE id = ?3")
    conn.executemany(sql, [(stamp, reason, artifact_id) for artifact_id in ids])
    return [_artifact(row) for artifact_id in ids
            for row in conn.execute(f"SELECT {COLUMNS} FROM artifacts WHERE id = ?", (artifact_id,))]


def mark_stale_for_user(conn: sqlite3.Connection, user_id: int, reason: str, *,
                        include_stale: bool = False) -> list[Artifact]:
    """Mark every artifact holding the user's text stale (opt-out: only fresh ones; forget: all, new reason)."""
    found = holding_user(conn, user_id, fresh_only=not include_stale)
    return mark_stale(conn, found, reason, replace_reason=include_stale)


def enclosing(conn: sqlite3.Connection, path: Path | str) -> list[Artifact]:
    """The registered artifacts at ``path`` or at any folder above it, nearest first."""
    target = Path(normal_path(path))
    candidates = [str(target), *(str(parent) for parent in target.parents)]
    marks = ",".join("?" * len(candidates))
    found = {row[2]: _artifact(row) for row in conn.execute(
        f"SELECT {COLUMNS} FROM artifacts WHERE path IN ({marks})", candidates)}
    return [found[candidate] for candidate in candidates if candidate in found]


def stale_artifact(conn: sqlite3.Connection, path: Path | str) -> Artifact | None:
    """The nearest stale artifact at or above ``path`` (a GGUF inside a stale run's export), or None."""
    return next((artifact for artifact in enclosing(conn, path) if artifact.stale), None)


def stale_reason(conn: sqlite3.Connection, path: Path | str) -> str | None:
    """Why the artifact at ``path`` (or the folder holding it) is stale, with the date; None when it is not."""
    artifact = stale_artifact(conn, path)
    return f"{artifact.stale_reason} (since {artifact.stale_since})" if artifact else None


def stale_artifacts(conn: sqlite3.Connection) -> list[Artifact]:
    return [_artifact(row) for row in conn.execute(
        f"SELECT {COLUMNS} FROM artifacts WHERE stale_since IS NOT NULL ORDER BY id")]
