"""The memory store on a real LanceDB folder (random unit vectors, no model): a message is stored once, search finds
the planted neighbour with and without the vector index and mixes in recency, filters hold, and deleting an author
removes their rows and their text from every file in the folder."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from storage.memory import MemoryRow, MemoryStore, MemoryStoreError, forget_authors

DIM = 32
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ALL = frozenset({100, 101, 102})  # every channel random_rows writes to


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def random_rows(count: int, seed: int = 0, *, start_id: int = 1, authors: int = 5, text: str = "filler message {}"
                ) -> list[MemoryRow]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIM))
    return [MemoryRow(start_id + i, 100 + i % 3, 1 + i % authors,
                      (NOW - timedelta(hours=i)).isoformat(), text.format(start_id + i), unit(vectors[i]))
            for i in range(count)]


def folder_contains(folder: Path, needle: str) -> bool:
    data = needle.encode("utf-8")
    return any(data in path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_a_message_is_stored_once_even_across_reopening(tmp_path):
    store = MemoryStore(tmp_path / "memory", DIM)
    rows = random_rows(20)
    assert store.add(rows) == 20
    assert store.add(rows[:5] + rows[:5]) == 0
    assert store.count() == 20
    again = MemoryStore(tmp_path / "memory", DIM)
    assert again.known_ids() == {row.message_id for row in rows}
    assert again.add(rows + random_rows(3, seed=1, start_id=1000)) == 3
    assert again.count() == 23


@pytest.mark.parametrize("indexed", [False, True])
def test_search_returns_the_planted_neighbour(tmp_path, indexed):
    store = MemoryStore(tmp_path / "memory", DIM)
    store.add(random_rows(600))
    query = unit(np.random.default_rng(9).normal(size=DIM))
    planted = unit(query + np.random.default_rng(10).normal(scale=0.05, size=DIM))
    store.add([MemoryRow(5000, 100, 2, NOW.isoformat(), "the planted one", planted)])
    assert store.ensure_index(300 if indexed else 10_000) == ("created" if indexed else "none")
    assert store.indexed() is indexed
    hits = store.search(query, channels=ALL, k=3, recency_weight=0.0)
    assert hits[0].message_id == 5000 and hits[0].text == "the planted one"
    assert hits[0].similarity > 0.95 > hits[1].similarity
    assert [hit.message_id for hit in store.search(query, channels=ALL, k=3, exclude_authors=[2])][0] != 5000
    assert all(hit.channel_id == 101 for hit in store.search(query, k=5, channels={101}))


def test_recency_breaks_near_ties_and_weight_zero_is_similarity_only(tmp_path):
    store = MemoryStore(tmp_path / "memory", DIM)
    query = unit(np.arange(1, DIM + 1))
    close = unit(query + 0.01 * np.eye(DIM)[0])
    old = MemoryRow(1, 100, 1, (NOW - timedelta(days=365)).isoformat(), "old but closest", query)
    new = MemoryRow(2, 100, 1, NOW.isoformat(), "new and nearly as close", close)
    store.add([old, new] + random_rows(30, start_id=10))
    now = NOW.timestamp()
    assert [hit.message_id for hit in store.search(query, channels=ALL, k=2, recency_weight=0.0, now=now)] == [1, 2]
    ranked = store.search(query, channels=ALL, k=2, recency_weight=0.3, now=now)
    assert [hit.message_id for hit in ranked] == [2, 1]
    assert ranked[0].score > ranked[1].score


def test_deleting_an_author_removes_rows_and_text_from_the_folder(tmp_path):
    folder = tmp_path / "memory"
    store = MemoryStore(folder, DIM)
    store.add(random_rows(300, text="ordinary chatter number {}"))
    secret = "quokka-lighthouse-7f3a personal detail"
    store.add([MemoryRow(900 + i, 100, 77, NOW.isoformat(), f"{secret} {i}", unit(np.ones(DIM) + i))
               for i in range(3)])
    assert store.ensure_index(0) == "created"  # an index too: its files must not keep the text either
    assert folder_contains(folder, secret) and folder_contains(folder, "ordinary chatter number 7")
    assert store.delete_authors([77, 12345]) == 3
    assert store.count() == 300
    assert not folder_contains(folder, secret)
    assert folder_contains(folder, "ordinary chatter number 7")  # the scan does see what is still there
    assert 900 not in MemoryStore(folder).known_ids()
    assert forget_authors(folder, [1]) == 60 and MemoryStore(folder).count() == 240


def test_forget_without_a_memory_is_a_no_op_and_a_wrong_vector_size_is_an_error(tmp_path):
    assert forget_authors(tmp_path / "nothing", [1]) == 0
    store = MemoryStore(tmp_path / "memory", DIM)
    assert store.search(unit(np.ones(DIM)), channels=ALL) == [] and store.count() == 0
    store.add(random_rows(2))
    with pytest.raises(MemoryStoreError, match="32-dimension"):
        MemoryStore(tmp_path / "memory", 16)
    with pytest.raises(MemoryStoreError, match="finite"):
        store.add([MemoryRow(99, 1, 1, NOW.isoformat(), "bad", [float("nan")] * DIM)])


def test_two_processes_handles_never_store_a_message_twice(tmp_path):
    """The bot and an embed job each hold a store; one's cached ids miss what the other just wrote."""
    bot = MemoryStore(tmp_path / "memory", DIM)
    rows = random_rows(4)
    bot.add(rows[:1])
    job = MemoryStore(tmp_path / "memory", DIM)
    job.known_ids()
    bot.add(rows[1:2])
    assert job.add(rows[1:3]) == 1
    assert MemoryStore(tmp_path / "memory").count() == 3
