"""The memory's in-memory search copy on real LanceDB folders: it agrees with a LanceDB query on top-k (exact scan and
sketch-narrowed scan alike), its filters hold, this store's deletes are gone the moment they return (and those of
another store in this process too), and what another process adds or deletes is taken in within the refresh bound."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import storage.memory as memory
import storage.vector_index as vector_index
from storage.memory import MemoryRow, MemoryStore
from tests.test_memory import ALL, DIM, NOW, random_rows, unit

ROOT = Path(__file__).resolve().parents[1]
BOUND = 0.3  # the refresh interval these tests run with (the real one is READ_CONSISTENCY, 2 s)


@pytest.fixture(autouse=True)
def short_refresh(monkeypatch):
    monkeypatch.setattr(memory, "REFRESH_INTERVAL", BOUND)


@pytest.fixture(params=["exact", "sketch"])
def path(request, monkeypatch):
    """Both ways the copy scores rows: every row exactly, or the sketch's nearest few hundred first."""
    if request.param == "sketch":
        monkeypatch.setattr(vector_index, "EXACT_ROWS", 64)
        monkeypatch.setattr(vector_index, "RERANK_MIN", 256)
    return request.param


def planted_query(seed: int = 9) -> tuple[np.ndarray, np.ndarray]:
    query = unit(np.random.default_rng(seed).normal(size=DIM))
    return query, unit(query + np.random.default_rng(seed + 1).normal(scale=0.05, size=DIM))


def ids(hits) -> list[int]:
    return [hit.message_id for hit in hits]


def found_within(store: MemoryStore, query, wanted: bool, message_id: int, limit: float) -> float:
    """Seconds until ``message_id`` is (``wanted``) or is not the top hit; fails past ``limit``."""
    started = time.monotonic()
    while (store.search(query, channels=ALL, k=1, recency_weight=0.0)[0].message_id == message_id) != wanted:
        assert time.monotonic() - started < limit, f"message {message_id} still {'missing' if wanted else 'found'}"
        time.sleep(0.02)
    return time.monotonic() - started


def in_subprocess(folder: Path, code: str) -> None:
    script = "import sys; sys.path.insert(0, %r)\nfrom storage.memory import *\nimport numpy as np\n" % str(ROOT)
    done = subprocess.run([sys.executable, "-c", script + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=folder.parent, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_fast_path_agrees_with_the_lancedb_query_on_top_k(tmp_path, path):
    store = MemoryStore(tmp_path / "memory", DIM)
    store.add(random_rows(3000, authors=40))
    queries = np.random.default_rng(5).normal(size=(25, DIM))
    agreed = total = 0
    for query in map(unit, queries):
        for options in ({"recency_weight": 0.0}, {"recency_weight": 0.3}, {"channels": {101}},
                        {"channels": {100, 102}, "recency_weight": 0.0},
                        {"recency_weight": 0.0, "exclude_authors": [3, 4]}):
            options = {"channels": ALL, **options}
            fast = store.search(query, k=5, now=NOW.timestamp(), **options)
            slow = store.search_lancedb(query, k=5, now=NOW.timestamp(), **options)
            assert len(fast) == len(slow) == 5
            agreed += len(set(ids(fast)) & set(ids(slow)))
            total += 5
            if path == "exact":  # the same rows, order and figures as LanceDB's flat (exact) search
                assert ids(fast) == ids(slow)
                assert [hit.similarity for hit in fast] == pytest.approx([hit.similarity for hit in slow], abs=1e-5)
    assert agreed / total >= (1.0 if path == "exact" else 0.95)


def test_excluded_authors_and_the_channel_filter_hold(tmp_path, path):
    store = MemoryStore(tmp_path / "memory", DIM)
    store.add(random_rows(2000, authors=7))
    query, planted = planted_query()
    store.add([MemoryRow(9000, 102, 3, NOW.isoformat(), "planted", planted)])
    assert ids(store.search(query, channels=ALL, k=1, recency_weight=0.0)) == [9000]
    for _ in range(2):  # the second time from the cached filter masks
        hits = store.search(query, channels=ALL, k=50, exclude_authors=[3, 5])
        assert len(hits) == 50 and not {hit.author_id for hit in hits} & {3, 5}
        in_channel = store.search(query, k=50, channels={101}, exclude_authors=[1])
        assert len(in_channel) == 50 and {hit.channel_id for hit in in_channel} == {101}
        assert 1 not in {hit.author_id for hit in in_channel}
        two = store.search(query, k=60, channels=[100, 102], exclude_authors=[1])  # a set of channels: any of them
        assert len(two) == 60 and {hit.channel_id for hit in two} == {100, 102}
    assert store.search(query, k=5, channels={4242}) == []
    for nowhere in (None, set(), frozenset()):  # no scope never means everywhere
        assert store.search(query, k=5, channels=nowhere) == [] == store.search_lancedb(query, k=5, channels=nowhere)
    assert store.search(query, channels=ALL, k=5, exclude_authors=range(1, 8)) == []


def test_this_stores_deletes_are_never_returned_after_the_delete_returns(tmp_path, path):
    store = MemoryStore(tmp_path / "memory", DIM)
    store.add(random_rows(1000))
    query, planted = planted_query()
    store.add([MemoryRow(9000, 100, 42, NOW.isoformat(), "planted", planted),
               MemoryRow(9001, 100, 43, NOW.isoformat(), "planted twin", planted)])
    assert ids(store.search(query, channels=ALL, k=2, recency_weight=0.0)) == [9001, 9000]  # ties: the newer id first
    assert store.delete_messages([9001]) == 1
    assert ids(store.search(query, channels=ALL, k=1, recency_weight=0.0)) == [9000]
    neighbour = MemoryStore(tmp_path / "memory")  # another store in this process (the forget command opens one)
    assert ids(neighbour.search(query, channels=ALL, k=1, recency_weight=0.0)) == [9000]
    assert store.delete_authors([42]) == 1
    for handle in (store, neighbour):
        assert 9000 not in ids(handle.search(query, channels=ALL, k=1000, recency_weight=0.0))


def test_rows_another_store_adds_become_searchable_within_the_bound(tmp_path, path):
    bot = MemoryStore(tmp_path / "memory", DIM)
    bot.add(random_rows(1500))
    query, planted = planted_query()
    assert bot.search(query, channels=ALL, k=1, recency_weight=0.0)[0].message_id != 9000  # the copy is built now
    MemoryStore(tmp_path / "memory", DIM).add([MemoryRow(9000, 100, 2, NOW.isoformat(), "from the job", planted)])
    assert found_within(bot, query, True, 9000, BOUND + 1.0) <= BOUND + 1.0
    assert bot.search(query, channels=ALL, k=1, recency_weight=0.0)[0].text == "from the job"


def test_another_process_adds_and_deletes_reach_the_copy_within_the_bound(tmp_path, path):
    folder = tmp_path / "memory"
    bot = MemoryStore(folder, DIM)
    bot.add(random_rows(1500))
    query, planted = planted_query()
    np.save(tmp_path / "planted.npy", planted)
    assert bot.search(query, channels=ALL, k=1, recency_weight=0.0)[0].message_id != 9000
    in_subprocess(folder, f"""
        store = MemoryStore({str(folder)!r})
        store.add([MemoryRow(9000, 100, 77, "{NOW.isoformat()}", "embed job row", np.load("planted.npy"))])
    """)
    found_within(bot, query, True, 9000, BOUND + 1.0)
    in_subprocess(folder, f"assert MemoryStore({str(folder)!r}).delete_authors([77]) == 1")
    found_within(bot, query, False, 9000, BOUND + 1.0)
    assert 77 not in {hit.author_id for hit in bot.search(query, channels=ALL, k=1000)}


def test_a_store_opened_before_the_table_existed_finds_its_rows(tmp_path):
    early = MemoryStore(tmp_path / "memory")
    query, planted = planted_query()
    assert early.search(query, channels=ALL) == []
    MemoryStore(tmp_path / "memory", DIM).add([MemoryRow(9000, 100, 2, NOW.isoformat(), "first", planted)])
    time.sleep(BOUND)
    assert ids(early.search(query, channels=ALL, k=3)) == [9000]


def test_the_sketch_keeps_recall_on_clustered_vectors(monkeypatch):
    """Unit test of the index alone: narrowed by sketch to 5%, recall@10 against brute force stays >= 0.95."""
    import pyarrow as pa
    monkeypatch.setattr(vector_index, "EXACT_ROWS", 100)
    monkeypatch.setattr(vector_index, "RERANK_MIN", 1000)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64))
    vectors = centres[rng.integers(0, 50, 20_000)] + rng.normal(scale=0.8, size=(20_000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    n = len(vectors)
    table = pa.table({"message_id": np.arange(n, dtype=np.int64), "channel_id": np.zeros(n, np.int64),
                      "author_id": np.ones(n, np.int64), "created_at": ["2026-01-01T00:00:00+00:00"] * n,
                      "timestamp": np.zeros(n), "text": ["t"] * n,
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 64)})
    index = vector_index.VectorIndex.from_arrow(64, table)
    gone = rng.choice(n, 3000, replace=False)
    assert index.remove("message_id", gone.tolist() + [10**9]) == 3000 and index.size == n - 3000
    alive = np.ones(n, bool)
    alive[gone] = False
    queries = centres[rng.integers(0, 50, 40)] + rng.normal(scale=0.8, size=(40, 64))
    hits = 0
    for query in queries:
        similarities = np.where(alive, vectors @ unit(query), -np.inf)
        exact = set(np.argsort(-similarities)[:10].tolist())
        rows = index.search(query, 10, channels=frozenset({0}))
        for row in rows:  # each row's id, vector and distance still belong together after the removal
            assert 1.0 - row["_distance"] == pytest.approx(similarities[row["message_id"]], abs=1e-5)
        hits += len(exact & {row["message_id"] for row in rows})
    assert hits / (10 * len(queries)) >= 0.95
    assert index.remove("author_id", [1]) == n - 3000 and index.search(queries[0], 10, channels=frozenset({0})) == []


def test_the_real_refresh_bound_is_the_read_consistency_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "REFRESH_INTERVAL", memory.READ_CONSISTENCY.total_seconds())
    bot = MemoryStore(tmp_path / "memory", DIM)
    bot.add(random_rows(500))
    query, planted = planted_query()
    assert bot.search(query, channels=ALL, k=1, recency_weight=0.0)[0].message_id != 9000
    MemoryStore(tmp_path / "memory", DIM).add([MemoryRow(9000, 100, 2, NOW.isoformat(), "from the job", planted)])
    assert found_within(bot, query, True, 9000, memory.READ_CONSISTENCY.total_seconds() + 1.0) > 0.5  # not at once:
    #                                                         the version is checked once per interval, not per query
