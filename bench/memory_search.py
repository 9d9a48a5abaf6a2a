"""The search half of ``bench/memory_bench.py``: memory search latency and recall at a given table size.

A LanceDB table of unit vectors (384 dimensions) is written through ``MemoryStore.add``, with the IVF-PQ index the
embed job builds, and compacted. A fresh store (as the bot opens it) builds its in-memory search copy (timed: the
start-up cost, with its size in MB). Then ``--queries`` random queries run through ``MemoryStore.search`` (the copy)
and ``MemoryStore.search_lancedb`` (the LanceDB query, baseline), one block after the other in the same run, recency
mixed in, two authors excluded and every channel in scope (the LanceDB query prefilters on them), after a warm-up:
p50/p95 of each and the ratio baseline / copy. Recall@5 of both against brute force over the same rows (similarity
only, same exclusions), on random vectors (pessimistic for any index: their neighbours are barely nearer than the
rest) and on clustered ones (centres plus noise, as embeddings of chat bunch by topic). The version check the copy
makes at most once per refresh interval (2 s) is timed apart: it adds that much to the one query per interval that
makes it, so it stays out of the p95.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

DIM = 384
EXCLUDED = (7, 8)
CHANNELS = frozenset(range(100, 120))  # every channel the rows are in: the search's scope covers them all
K = 5
RECALL_QUERIES = 100
CLUSTERS = 2000


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def vectors_of(kind: str, count: int, rng: np.random.Generator, centres: np.ndarray | None) -> np.ndarray:
    if kind == "random":
        return unit_rows(rng.normal(size=(count, DIM)))
    picked = centres[rng.integers(0, len(centres), count)]  # noise as long as the centre: cosine ~0.5 to it
    return unit_rows(picked + rng.normal(scale=1.0 / np.sqrt(DIM), size=(count, DIM)))


def make_centres(rng: np.random.Generator) -> np.ndarray:
    shared = unit_rows(rng.normal(size=(1, DIM)))  # a direction all share: embeddings are not centred on zero
    return unit_rows(rng.normal(size=(CLUSTERS, DIM)) / np.sqrt(DIM) + 0.6 * shared)  # centres' cosine ~0.26


def filled_store(folder: Path, rows: int, kind: str, seed: int, lancedb_index: bool):
    """A store of ``rows`` vectors (ids 1..rows; authors 1..300; 20 channels); returns it, the vectors, the LanceDB
    index state and its build seconds."""
    from storage.memory import MemoryRow, MemoryStore
    rng = np.random.default_rng(seed)
    centres = make_centres(rng) if kind == "clustered" else None
    store, start, all_vectors = MemoryStore(folder, DIM), datetime(2025, 1, 1, tzinfo=timezone.utc), []
    for offset in range(0, rows, 20_000):
        count = min(20_000, rows - offset)
        vectors = vectors_of(kind, count, rng, centres)
        all_vectors.append(vectors)
        store.add([MemoryRow(offset + i + 1, 100 + i % 20, 1 + (offset + i) % 300,
                             (start + timedelta(minutes=offset + i)).isoformat(), f"synthetic memory {offset + i}",
                             vectors[i]) for i in range(count)])
    started = time.perf_counter()
    index = store.ensure_index(5000) if lancedb_index else "none"
    index_seconds = time.perf_counter() - started
    store.purge_old_versions()
    return store, np.concatenate(all_vectors), centres, index, index_seconds


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return round(statistics.median(ordered), 2), round(ordered[int(0.95 * (len(ordered) - 1))], 2)


def recall(search, vectors: np.ndarray, queries: np.ndarray) -> float:
    authors = 1 + np.arange(len(vectors)) % 300
    allowed = ~np.isin(authors, EXCLUDED)
    found = 0
    for query in queries:
        similarities = np.where(allowed, vectors @ query, -np.inf)
        exact = set((np.argpartition(-similarities, K)[:K] + 1).tolist())
        hits = search(query, k=K, channels=CHANNELS, exclude_authors=EXCLUDED, recency_weight=0.0)
        found += len(exact & {hit.message_id for hit in hits})
    return round(found / (K * len(queries)), 3)


def version_check_ms(store) -> float:
    table, runs = store._table, []
    for _ in range(50):
        started = time.perf_counter()
        table.checkout_latest()
        _ = table.version
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 3)


def timed(search, queries: np.ndarray) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for query in queries[:20]:
        search(query, k=K, channels=CHANNELS, exclude_authors=EXCLUDED)
    for query in queries[20:]:
        started, cpu_started = time.perf_counter(), time.process_time()
        search(query, k=K, channels=CHANNELS, exclude_authors=EXCLUDED)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return wall, cpu


def timed_queries(store, queries: np.ndarray) -> dict:
    """Each path in its own block: LanceDB's worker threads stay busy a moment after each of its queries, and
    alternating would charge that to the copy (the bot, once switched, makes no LanceDB queries between searches)."""
    fast, fast_cpu = timed(store.search, queries)
    base, _ = timed(store.search_lancedb, queries)
    (p50, p95), (base_p50, base_p95), (cpu_p50, cpu_p95) = map(percentiles, (fast, base, fast_cpu))
    return {"p50_ms": p50, "p95_ms": p95, "cpu_p50_ms": cpu_p50, "cpu_p95_ms": cpu_p95,
            "lancedb_p50_ms": base_p50, "lancedb_p95_ms": base_p95, "ratio_p95": round(base_p95 / p95, 1)}


def search_figures(work: Path, rows: int, queries: int) -> dict:
    from storage.memory import MemoryStore
    folder = work / f"search-{rows}"
    _, vectors, _, index, index_seconds = filled_store(folder, rows, "random", seed=rows, lancedb_index=True)
    store = MemoryStore(folder)  # a fresh handle, as the bot opens it
    started = time.perf_counter()
    copy = store.copy_figures()
    build_seconds = time.perf_counter() - started
    query_vectors = unit_rows(np.random.default_rng(1).normal(size=(queries + 20, DIM)))
    figures = {"rows": rows, "index": index, "index_build_seconds": round(index_seconds, 1),
               "copy_build_seconds": round(build_seconds, 2), "copy_megabytes": copy["megabytes"],
               "version_check_ms": version_check_ms(store), **timed_queries(store, query_vectors),
               "recall_random": recall(store.search, vectors, query_vectors[:RECALL_QUERIES]),
               "lancedb_recall_random": recall(store.search_lancedb, vectors, query_vectors[:RECALL_QUERIES])}
    clustered_folder = work / f"clustered-{rows}"
    _, vectors, centres, _, _ = filled_store(clustered_folder, rows, "clustered", seed=rows + 1, lancedb_index=False)
    clustered = MemoryStore(clustered_folder)
    queries_near = vectors_of("clustered", RECALL_QUERIES, np.random.default_rng(2), centres)
    figures["recall_clustered"] = recall(clustered.search, vectors, queries_near)
    figures["load_average"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return figures


def search_summary(entry: dict) -> str:
    rows = entry["rows"]
    return (f"search at {rows} rows: in-memory copy p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms vs LanceDB "
            f"query ({entry['index']} index) p50 {entry['lancedb_p50_ms']} ms, p95 {entry['lancedb_p95_ms']} ms = "
            f"{entry['ratio_p95']}x faster at p95" + (" (target p95 <= 5 ms)" if rows == 100_000 else "")
            + f"; recall@{K} vs brute force: copy {entry['recall_random']} random / {entry['recall_clustered']} "
            f"clustered, LanceDB {entry['lancedb_recall_random']} random; copy built in "
            f"{entry['copy_build_seconds']} s, {entry['copy_megabytes']} MB; version check "
            f"{entry['version_check_ms']} ms once per refresh interval (load average {entry['load_average']})")
