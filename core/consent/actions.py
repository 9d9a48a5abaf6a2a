"""Opt-out, opt-in and forget: one function each, called by the CLI, the panel (through the CLI) and the bot alike.

Each records the consent change *first*, under the consent lock (``core.consent.lock``), and keeps the lock until
it is done, so ``prepare`` and ``embed`` never publish in between (``core.consent.guard``) and from the first moment
every writer refuses the person's text (``storage.messages.write_batch``, the memory's write lock).
- ``opt_out``: recorded; every artifact holding their text is marked stale (a STALE file in each folder); their rows
  leave the memory index (with its old versions). Their messages stay in the database, unused, until opt-in.
- ``opt_in``: recorded; nothing is rebuilt by itself.
- ``forget``: opted out, then ``core.consent.purge`` empties every artifact and file holding their text, their
  text leaves other people's rows (forwards, embeds), and their messages, user row and profile are deleted with the
  write-ahead log emptied (``storage.consent.forget_user``). Rerunnable: a file that cannot be deleted stops it
  before the database is touched.
Reports are plain dicts, the JSON the CLI prints.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from core.consent.lock import WAIT_SECONDS, consent_lock
from core.consent.purge import MEMORY_DIR, Purge, PrivacyError, empty_artifact, forget_memory, sweep
from core.consent.stale import rebuild_command, write_markers
from core.consent.text_scan import TextFinder
from core.jobs.pause_points import pause_point
from storage import artifacts, consent as store
from storage.db import transaction
from storage.wal import DEFAULT_TIMEOUT_S

__all__ = ["PrivacyError", "forget", "opt_in", "opt_out"]


def stale_entries(marked) -> list[dict]:
    return [{"kind": a.kind, "path": a.path, "reason": a.stale_reason, "rebuild": rebuild_command(a.kind)}
            for a in marked]


def opt_out(conn: sqlite3.Connection, workspace_root: Path, user_id: int) -> dict:
    """Record the opt-out, mark stale what holds their text, and delete their memories."""
    with consent_lock(conn):
        marked = store.set_opted_out(conn, user_id, True)
        write_markers(marked)
        memories = forget_memory(Path(workspace_root) / MEMORY_DIR, user_id, Purge())
    return {"user_id": str(user_id), "opted_out": True, "memories_deleted": memories,
            "stale_artifacts": [artifact.path for artifact in marked], "stale": stale_entries(marked)}


def opt_in(conn: sqlite3.Connection, user_id: int, *, wait: float = WAIT_SECONDS) -> dict:
    """Record the opt-in; waits at most ``wait`` seconds for a running forget (then ConsentBusy)."""
    with consent_lock(conn, timeout=wait):
        store.set_opted_out(conn, user_id, False)
    return {"user_id": str(user_id), "opted_out": False}


def forget(conn: sqlite3.Connection, workspace_root: Path, user_id: int, *,
           checkpoint_timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Remove the user's text from every file we wrote, then from the database (see the module docstring)."""
    root = Path(workspace_root)
    with consent_lock(conn):
        with transaction(conn):  # first: from here on every writer refuses their text
            store.save_consent(conn, user_id, True, forgotten=True)
            holding = artifacts.mark_stale_for_user(conn, user_id, store.forgotten_reason(user_id),
                                                    include_stale=True)
        pause_point("forget.recorded")  # tests: consent is recorded, nothing is cleaned yet
        texts = store.user_message_texts(conn, user_id)
        finder = TextFinder(texts)
        purge = Purge()
        for artifact in holding:
            empty_artifact(artifact, finder, purge, user_id)
        forget_memory(root / MEMORY_DIR, user_id, purge)  # registered or not: it holds live text
        sweep(root, finder, purge)
        write_markers(holding, "; the files holding their text were deleted")
        whole = {" ".join(text.split()) for text in texts if text.strip()}

        def holds_text(text: str) -> bool:  # a forward of a short message is found whole, a longer one by its lines
            return " ".join(text.split()) in whole or any(finder.found_in_line(line) for line in text.splitlines())
        result = store.forget_user(conn, user_id, checkpoint_timeout=checkpoint_timeout, holds_text=holds_text)
    busy, log, done = result.checkpoint
    return {"user_id": str(user_id), "messages_deleted": result.messages, "reactions_deleted": result.reactions,
            "copies_cleaned": result.copies, "opted_out": True,
            "stale_artifacts": [artifact.path for artifact in result.stale], "stale": stale_entries(result.stale),
            "deleted_files": purge.deleted, "stale_weights": purge.stale_weights,
            "wal_checkpoint": {"busy": busy, "log": log, "checkpointed": done}}
