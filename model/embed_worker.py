"""The embed worker: stored messages into the bot's LanceDB memory, incrementally.

``python launcher.py --worker embed --workspace DIR [--batch-size N]``

Reads the messages not in the memory yet, keeps those a dataset could use (no opted-out user, bot, system message,
command or empty one: ``core.memory.selection``), and embeds their cleaned, scrubbed text. All of a run's texts are
sorted by length once (longest first, as sentence-transformers sorts within one ``encode`` call), so each encoder
batch pads to like-sized texts, then encoded and appended ``batch_size`` at a time; a stop request is honoured
between batches and what was added stays (the next run embeds the rest: a message is never stored twice). Each row
carries its channel's server (``guild_id``); a folder written before that column is upgraded first, in place. Rows of
users opted out since the last run are deleted first. Every write holds the memory folder's lock (the bot may be
adding captured messages meanwhile), and each batch leaves out the people opted out by the moment it is written
(``model.embedding.store_consented``). Consent holds for the whole run: it finishes under the consent lock
(``core.consent.guard``), deleting what it wrote for anyone who opted out or was forgotten while it ran, before it
records the folder as rebuilt. Ends by building or updating the vector index once the table
is large enough, compacting the table (skipped when this run created the table, deleted nothing and stayed below the
index threshold: its few batch files are all there is, and no deleted text lives in an old version), and recording
the folder as an artifact (an opt-out marks it stale). The result carries ``embedded, skipped, seconds``, the details
and ``phases`` (seconds per phase: imports, store, read, model, encode, write, finish). Once the result is sent,
the process ends without the interpreter's teardown (``exit_now``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

IMPORTS_STARTED = time.perf_counter()  # the phases report what the imports below cost (lancedb, core)

from core.config.app_config import load_config
from core.config.strict import ConfigError
from core.config.workspace import Workspace
from core.consent.guard import ConsentGuard
from core.consent.lock import ConsentBusy
from core.jobs import wire
from core.jobs.events import JobFailed, JobFinished, JobStarted, ProgressReported
from core.jobs.pause_points import pause_point
from core.jobs.phase_clock import PhaseClock
from core.memory.selection import MemorySelector, message_count, skip_summary, stored_messages
from storage.channels import channel_guilds
from storage.db import DatabaseError
from storage.memory import MemoryStore, MemoryStoreError
from storage.personas import register_artifact
from model.embedding import DEFAULT_NAME, Embedder, EmbedderError, memory_rows, store_consented

IMPORTS_DONE = time.perf_counter()
STALE_MARKER = "STALE"  # core.dataset.writer's marker, which a forget drops into every artifact folder


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="embed worker")
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, help="override [memory] batch_size")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    link = wire.link()
    started = time.monotonic()
    try:
        result = embed(args, link)
    except (ConfigError, ConsentBusy, DatabaseError, EmbedderError, MemoryStoreError) as exc:
        link.emit(JobFailed(message=str(exc), exit_code=1))
        return 1
    except Exception as exc:
        return wire.report_unexpected(link, exc, "embedding", "see the embed log (memory_job/run.log)")
    result["seconds"] = round(time.monotonic() - started, 2)
    result["phases"]["imports"] = round(IMPORTS_DONE - IMPORTS_STARTED, 3)
    link.emit(JobFinished(status="stopped" if result["stopped_early"] else "finished", seconds=result["seconds"],
                          result=result))
    if sys.argv[1:3] == ["--worker", "embed"]:  # the worker process itself (launcher.py), never a test calling main
        exit_now(0)
    return 0


def exit_now(code: int) -> None:
    """End the worker without the interpreter's teardown (1.5 s with torch and LanceDB loaded, on 2 cores, as long
    as the encoding of 1,000 short messages): everything is written by now (LanceDB commits each write, the database
    connection is closed), so only the log handlers and the standard streams need flushing."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the parent went away: nothing left to tell it
            pass
    os._exit(code)


class Phases(dict):
    """Seconds spent per named phase (``lap(name)`` charges the time since the previous lap to ``name``)."""

    def __init__(self):
        super().__init__()
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self[name] = round(self.get(name, 0.0) + now - self._last, 3)
        self._last = now


def embed(args: argparse.Namespace, link: wire.WorkerLink) -> dict:
    phases = Phases()
    workspace = Workspace.open(args.workspace)
    settings = load_config(workspace.config_path).memory
    batch_size = max(1, args.batch_size or settings.batch_size)
    conn = workspace.connect()
    guard = ConsentGuard(conn)  # before anyone's text is read: publishing checks consent against this
    total = message_count(conn)
    selector = MemorySelector.from_database(conn)
    store = MemoryStore(workspace.memory_dir)  # the vector size is known once the embedder is loaded
    new_table = store.count() == 0
    store.fill_guilds(channel_guilds(conn))  # a folder from before guild ids: the column, then each row's server
    removed = store.delete_authors(selector.opted_out)  # opted out since the last run
    known = frozenset(store.known_ids())
    phases.lap("store")
    pending = longest_first(select(stored_messages(conn, known), selector))
    phases.lap("read")
    model_name = settings.embedder or DEFAULT_NAME
    link.emit(JobStarted(name="embed", backend="sentence-transformers", device="cpu", total_steps=total,
                         details={"model": model_name, "already_embedded": len(known), "messages": total}))
    print(f"embedding new messages with {model_name}: {total} stored, {len(known)} already in memory, "
          f"{len(pending)} to embed", flush=True)
    skipped = sum(selector.skipped.values())
    link.emit(ProgressReported(step=min(len(known) + skipped, total), total=total,
                               message="loading the embedder" if pending else "nothing new to embed"))
    embedded, stopped = 0, False
    clock = PhaseClock(link)
    if pending:  # a run with nothing new never pays for loading the model
        store, embedded, stopped = load_and_encode(pending, settings, workspace, conn, link, phases, clock,
                                                   batch_size=batch_size, done=len(known) + skipped, total=total)
    clock.start("embed.finish")
    with guard.publishing() as newly_opted_out:  # anyone opted out while this ran: what it wrote of theirs goes
        refiltered = store.delete_authors(newly_opted_out) if newly_opted_out else 0
        rows = store.count()
        index = store.ensure_index(settings.index_threshold)
        if refiltered or not (new_table and not removed and index == "none" and rows < settings.index_threshold):
            store.purge_old_versions()  # one version per batch otherwise: small files slow every search
        register_artifact(conn, "memory", workspace.memory_dir)
        (workspace.memory_dir / STALE_MARKER).unlink(missing_ok=True)  # rebuilt without anyone opted out since
    conn.close()
    phases.lap("finish")
    clock.finish("embed.finish", rows=rows, index=index)
    by_reason = skip_summary(selector.skipped)
    return {"embedded": embedded, "skipped": sum(by_reason.values()), "skipped_by_reason": by_reason,
            "already_embedded": len(known), "removed_opted_out": removed + refiltered, "rows": rows, "index": index,
            "model": model_name, "memory_dir": str(workspace.memory_dir), "stopped_early": stopped,
            "encode_seconds": round(phases.get("encode", 0.0), 2), "phases": dict(phases)}


def load_and_encode(pending: list, settings, workspace: Workspace, conn, link: wire.WorkerLink, phases: Phases,
                    clock: PhaseClock, *, batch_size: int, done: int, total: int) -> tuple[MemoryStore, int, bool]:
    """Load the embedder, then encode and store ``pending``, each announced as a phase: (store, embedded, stopped)."""
    clock.start("embed.load", model=settings.embedder or DEFAULT_NAME)
    embedder = Embedder(settings.embedder or None)
    store = MemoryStore(workspace.memory_dir, embedder.dim)
    phases.lap("model")
    clock.finish("embed.load", dim=embedder.dim)
    clock.start("embed.encode", total=len(pending), batch_size=batch_size)
    embedded, stopped = encode_and_store(pending, batch_size, embedder, store, conn, link, phases, done=done,
                                         total=total)
    clock.finish("embed.encode", embedded=embedded, stopped=stopped)
    return store, embedded, stopped


def encode_and_store(pending: list, batch_size: int, embedder: Embedder, store: MemoryStore, conn,
                     link: wire.WorkerLink, phases: Phases, *, done: int, total: int) -> tuple[int, bool]:
    """Encode and append ``pending`` (message, text) pairs ``batch_size`` at a time, each batch without the people
    opted out by the time it is written (``store_consented``); (embedded, stopped early)."""
    embedded = 0
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        texts = [text for _, text in batch]
        vectors = embedder.encode(texts)
        phases.lap("encode")
        embedded += store_consented(store, conn, memory_rows([message for message, _ in batch], texts, vectors))
        phases.lap("write")
        pause_point("embed.batch")
        link.emit(ProgressReported(step=min(done + start + len(batch), total), total=total, phase="embed.encode",
                                   message=f"{embedded} embedded"))
        if link.stop_requested() and start + batch_size < len(pending):
            return embedded, True
    return embedded, False


def select(candidates, selector: MemorySelector) -> list[tuple]:
    """(message, text) for each candidate the memory may keep, in the order read (the selector counts the rest)."""
    kept = []
    for message in candidates:
        text = selector.text_for(message)
        if text is not None:
            kept.append((message, text))
    return kept


def longest_first(pending: list[tuple]) -> list[tuple]:
    """Longest text first, ties by message id: one global order, so every encoder batch holds like-sized texts
    (padding is what a batch costs) whatever ``batch_size`` cuts the run into."""
    return sorted(pending, key=lambda pair: (-len(pair[1]), pair[0].message_id))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
