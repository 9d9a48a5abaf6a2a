"""The embed worker: stored messages into the bot's LanceDB memory, incrementally.

``python launcher.py --worker embed --workspace DIR [--batch-size N]``

Reads the messages not in the memory yet (oldest first), keeps those a dataset could use (no opted-out user, bot,
system message, command or empty one: ``core.memory.selection``), embeds their cleaned, scrubbed text in batches and
appends each batch; a stop request is honoured between batches and what was added stays. Rows of users opted out
since the last run are deleted first. Ends by building or updating the vector index once the table is large enough,
compacting the table, and recording the folder as an artifact (an opt-out marks it stale). The result carries
``embedded, skipped, seconds`` and the details.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.config.app_config import load_config
from core.config.strict import ConfigError
from core.config.workspace import Workspace
from core.jobs import wire
from core.jobs.events import JobFailed, JobFinished, JobStarted, ProgressReported
from core.memory.selection import MemorySelector, message_count, skip_summary, stored_messages
from storage.db import DatabaseError
from storage.memory import MemoryStore, MemoryStoreError
from storage.personas import register_artifact
from model.embedding import DEFAULT_NAME, Embedder, EmbedderError, memory_rows

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
    except (ConfigError, DatabaseError, EmbedderError, MemoryStoreError) as exc:
        link.emit(JobFailed(message=str(exc), exit_code=1))
        return 1
    except Exception as exc:
        return wire.report_unexpected(link, exc, "embedding", "see the embed log (memory_job/run.log)")
    result["seconds"] = round(time.monotonic() - started, 2)
    link.emit(JobFinished(status="stopped" if result["stopped_early"] else "finished", seconds=result["seconds"],
                          result=result))
    return 0


def embed(args: argparse.Namespace, link: wire.WorkerLink) -> dict:
    workspace = Workspace.open(args.workspace)
    settings = load_config(workspace.config_path).memory
    batch_size = max(1, args.batch_size or settings.batch_size)
    conn = workspace.connect()
    total = message_count(conn)
    selector = MemorySelector.from_database(conn)
    store = MemoryStore(workspace.memory_dir)  # the vector size is known once the embedder is loaded
    removed = store.delete_authors(selector.opted_out)  # opted out since the last run
    known = frozenset(store.known_ids())
    candidates = stored_messages(conn, known)
    messages, texts, read = next_batch(candidates, selector, batch_size)
    model_name = settings.embedder or DEFAULT_NAME
    link.emit(JobStarted(name="embed", backend="sentence-transformers", device="cpu", total_steps=total,
                         details={"model": model_name, "already_embedded": len(known), "messages": total}))
    print(f"embedding new messages with {model_name}: {total} stored, {len(known)} already in memory", flush=True)
    if messages:  # a run with nothing new never pays for loading the model
        link.emit(ProgressReported(step=0, total=total, message="loading the embedder"))
        embedder = Embedder(settings.embedder or None)
        store = MemoryStore(workspace.memory_dir, embedder.dim)
    embedded, seen, stopped, encoding = 0, len(known), False, 0.0
    while read:
        if messages:
            encode_started = time.perf_counter()
            vectors = embedder.encode(texts)
            encoding += time.perf_counter() - encode_started
            embedded += store.add(memory_rows(messages, texts, vectors))
        seen += read
        link.emit(ProgressReported(step=min(seen, total), total=total, message=f"{embedded} embedded"))
        if link.stop_requested():
            stopped = True
            break
        messages, texts, read = next_batch(candidates, selector, batch_size)
    index = store.ensure_index(settings.index_threshold)
    store.purge_old_versions()  # one version per batch otherwise: small files slow every search
    register_artifact(conn, "memory", workspace.memory_dir)
    (workspace.memory_dir / STALE_MARKER).unlink(missing_ok=True)  # rebuilt without anyone opted out since
    skipped = skip_summary(selector.skipped)
    return {"embedded": embedded, "skipped": sum(skipped.values()), "skipped_by_reason": skipped,
            "already_embedded": len(known), "removed_opted_out": removed, "rows": store.count(), "index": index,
            "model": model_name, "memory_dir": str(workspace.memory_dir), "stopped_early": stopped,
            "encode_seconds": round(encoding, 2)}


def next_batch(candidates, selector: MemorySelector, batch_size: int) -> tuple[list, list[str], int]:
    """Up to ``batch_size`` messages to embed with their texts, and how many stored messages were read for them."""
    messages, texts, read = [], [], 0
    for message in candidates:
        read += 1
        text = selector.text_for(message)
        if text is not None:
            messages.append(message)
            texts.append(text)
            if len(messages) >= batch_size:
                break
    return messages, texts, read


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
