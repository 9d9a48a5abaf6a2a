"""Benchmark of the bot's memory: ``embed`` throughput against a bare sentence-transformers encode of the same
texts, and search latency at 10k and 100k rows.

    python bench/memory_bench.py [--messages 1500] [--queries 300] [--work DIR]

Embed: a synthetic export (``bench/synthetic.py``) is imported into a fresh workspace, then ``launcher.py embed``
runs as a real subprocess (process start, model load, SQLite read, cleaning, encoding, LanceDB writes, index and
compaction), timed by the wall clock. The baseline is a bare subprocess that loads the same model and encodes the
very texts the memory stored, in one ``encode`` call (best case: one global length sort). Ratio = baseline seconds /
embed seconds (throughput relative to bare; target >= 0.9). Search: tables of random unit vectors (384 dimensions)
with the IVF-PQ index the embed job builds, queried through ``MemoryStore.search`` with recency mixed in; p50/p95
over ``--queries`` random queries after a warm-up (target p95 <= 5 ms at 100k rows on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DIM = 384
ROUNDS = 2
BARE_ENCODE = """
import json, sys, time
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[2], encoding="utf-8"))
model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
print(len(vectors))
"""


def timed(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stderr[-2000:]}")
    return seconds, done.stdout


def embed_figures(work: Path, messages: int) -> dict:
    from bench.synthetic import write_synthetic_export
    from model.embedding import default_model_folder
    from storage.memory import MemoryStore
    export, workspace = work / "export", work / "ws"
    write_synthetic_export(export, messages, seed=0)
    launcher = [sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace)]
    timed(launcher + ["import", str(export), "--json"])
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    embed_runs, bare_runs, result = [], [], {}
    for _ in range(ROUNDS):  # alternated, best of each: other work on a shared machine hits both alike
        shutil.rmtree(workspace / "memory", ignore_errors=True)
        seconds, out = timed(launcher + ["embed", "--json"], env)
        embed_runs.append(seconds)
        result = json.loads(out)
        texts_file = work / "texts.json"
        if not texts_file.exists():
            texts = MemoryStore(workspace / "memory")._table.to_arrow().column("text").to_pylist()
            texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        bare_runs.append(timed([sys.executable, "-c", BARE_ENCODE, str(default_model_folder()), str(texts_file)],
                               env)[0])
    again_seconds, again = timed(launcher + ["embed", "--json"], env)
    embed_seconds, bare_seconds = min(embed_runs), min(bare_runs)
    return {"messages": messages, "embedded": result["embedded"], "skipped": result["skipped"],
            "embed_seconds": round(embed_seconds, 2), "embed_msg_per_s": round(result["embedded"] / embed_seconds, 1),
            "embed_runs": [round(x, 1) for x in embed_runs], "bare_runs": [round(x, 1) for x in bare_runs],
            "worker_seconds": result["seconds"], "worker_encode_seconds": result["encode_seconds"],
            "bare_seconds": round(bare_seconds, 2), "bare_msg_per_s": round(result["embedded"] / bare_seconds, 1),
            "ratio": round(bare_seconds / embed_seconds, 3),
            "second_run_seconds": round(again_seconds, 2), "second_run_embedded": json.loads(again)["embedded"]}


def random_store(folder: Path, rows: int, seed: int):
    from storage.memory import MemoryRow, MemoryStore
    rng = np.random.default_rng(seed)
    store = MemoryStore(folder, DIM)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for offset in range(0, rows, 20_000):
        count = min(20_000, rows - offset)
        vectors = rng.normal(size=(count, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add([MemoryRow(offset + i + 1, 100 + i % 20, 1 + i % 300, (start + timedelta(minutes=offset + i)).isoformat(),
                             f"synthetic memory {offset + i}", vectors[i]) for i in range(count)])
    started = time.perf_counter()
    index = store.ensure_index(5000)
    index_seconds = time.perf_counter() - started
    store.purge_old_versions()
    return store, index, index_seconds


def search_figures(work: Path, rows: int, queries: int) -> dict:
    from storage.memory import MemoryStore
    store, index, index_seconds = random_store(work / f"search-{rows}", rows, seed=rows)
    store = MemoryStore(store.folder)  # a fresh handle, as the bot opens it
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(queries + 20, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for vector in vectors[:20]:
        store.search(vector, k=5, exclude_authors=(7, 8))
    latencies, cpu = [], []
    for vector in vectors[20:]:
        started, cpu_started = time.perf_counter(), time.process_time()
        store.search(vector, k=5, exclude_authors=(7, 8))
        latencies.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    latencies.sort()
    cpu.sort()
    return {"rows": rows, "index": index, "index_build_seconds": round(index_seconds, 1),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "cpu_p50_ms": round(statistics.median(cpu), 2), "cpu_p95_ms": round(cpu[int(0.95 * (len(cpu) - 1))], 2),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--skip-embed", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="memory-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"cpus: {os.cpu_count()}, work folder: {work}", flush=True)
    figures = {}
    if not args.skip_embed:
        figures["embed"] = embed_figures(work, args.messages)
        print(json.dumps(figures["embed"]), flush=True)
    for rows in () if args.skip_search else (10_000, 100_000):
        figures[f"search_{rows}"] = search_figures(work, rows, args.queries)
        print(json.dumps(figures[f"search_{rows}"]), flush=True)
    embed = figures.get("embed")
    if embed:
        print(f"embed: {embed['embed_msg_per_s']} msg/s end to end vs bare encode {embed['bare_msg_per_s']} msg/s "
              f"= {embed['ratio']}x (target >= 0.9x; best of {ROUNDS} alternated runs); inside the worker "
              f"{embed['worker_encode_seconds']} of {embed['worker_seconds']} s were encoding; second run {embed['second_run_seconds']} s, "
              f"{embed['second_run_embedded']} embedded")
    for rows in () if args.skip_search else (10_000, 100_000):
        entry = figures[f"search_{rows}"]
        print(f"search at {rows} rows ({entry['index']} index): p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms, "
              f"CPU per query p50 {entry['cpu_p50_ms']} ms, p95 {entry['cpu_p95_ms']} ms (load average "
              f"{entry['load_average']})" + (" (target p95 <= 5 ms)" if rows == 100_000 else ""))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
