"""The bot's long-term memory: embedded messages in a LanceDB folder (``WORKSPACE/memory``), one row per message.

Rows hold the cleaned, scrubbed text (never the raw content), the message's ids and time, and its embedding; the
vectors come from ``model.embedding`` (this module has no ML imports and never computes one). A message id is stored
at most once. Search is cosine similarity, mixed with recency so that of two similar memories the newer one wins.
It answers from an in-memory copy of the table (``storage.vector_index``; a LanceDB query costs ~5 ms even at 10k
rows): this store's own adds and deletes change the copy at once (and deletes reach every other store on the folder in
this process), and at most every ``REFRESH_INTERVAL`` a search checks the table's version (~0.5 ms) and takes in what
another process added or deleted since.
Deleting authors (forget, opt-out) compacts the table and removes every older version, because LanceDB otherwise
keeps the deleted rows' text in the files of earlier versions.
"""
from __future__ import annotations

import math
import time
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from storage.search_copy import SearchCopy

TABLE = "messages"
CANDIDATE_FACTOR = 4        # with recency mixed in, rank this many times k by similarity first, then re-score
NPROBES = 20                # IVF partitions searched: the index's recall/latency trade-off (LanceDB's default)
EXCLUDED_SLACK = 8          # extra candidates fetched per excluded author, which are then dropped here: a filter
#                             inside the vector query (prefilter) costs a scan of the author column on every search
READ_CONSISTENCY = timedelta(seconds=2)  # a reader (the bot) sees rows another process added within this long
REFRESH_INTERVAL = READ_CONSISTENCY.total_seconds()  # the search copy checks the table's version this often
SECONDS_PER_DAY = 86_400.0
OPEN_STORES: "weakref.WeakSet[MemoryStore]" = weakref.WeakSet()  # a delete reaches every store on its folder at once


class MemoryStoreError(Exception):
    """The memory folder cannot be used as asked (wrong vector size, bad rows); the message names the folder."""


@dataclass(frozen=True)
class MemoryRow:
    message_id: int
    channel_id: int
    author_id: int
    created_at: str          # ISO 8601 with a time zone, as stored in SQLite
    text: str                # cleaned and scrubbed: what the bot may quote back
    vector: Sequence[float]  # L2-normalised embedding of ``text``


@dataclass(frozen=True)
class MemoryHit:
    message_id: int
    channel_id: int
    author_id: int
    created_at: str
    text: str
    similarity: float        # cosine similarity to the query, -1..1
    score: float             # (1 - w) * similarity + w * recency; hits are sorted by it


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("channel_id", pa.int64(), nullable=False),
        pa.field("author_id", pa.int64(), nullable=False),
        pa.field("created_at", pa.string(), nullable=False),
        pa.field("timestamp", pa.float64(), nullable=False),  # seconds since the epoch, for the recency score
        pa.field("text", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
    ])


def timestamp_of(created_at: str) -> float:
    moment = datetime.fromisoformat(created_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def recency(timestamp: float, now: float, half_life_days: float) -> float:
    """1.0 for a memory written now, halving every ``half_life_days``; future times count as now."""
    age_days = max(0.0, now - timestamp) / SECONDS_PER_DAY
    return math.pow(0.5, age_days / half_life_days) if half_life_days > 0 else 0.0


def id_list(values: Iterable[int]) -> str:
    return ", ".join(str(int(value)) for value in values)  # int(): nothing but digits reaches the filter text


class MemoryStore:
    """One memory folder. ``dim`` may be None only to open an existing table (to delete from it, count, search)."""

    def __init__(self, folder: Path, dim: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.folder), read_consistency_interval=READ_CONSISTENCY)
        self._table = self._db.open_table(TABLE) if TABLE in self._db.list_tables().tables else None
        self._dim = dim
        stored = self.dim
        if stored is not None and dim is not None and stored != dim:
            raise MemoryStoreError(f"{self.folder}: the memory holds {stored}-dimension vectors but the embedder makes "
                              f"{dim}; delete the folder and run `embed` again, or switch back to the old embedder")
        self._dim = stored or dim
        self._known: set[int] | None = None
        self._copy = SearchCopy()  # what search answers from: built by the first search, in memory only
        OPEN_STORES.add(self)

    @property
    def dim(self) -> int | None:
        if self._table is None:
            return self._dim
        return self._table.schema.field("vector").type.list_size

    # -- writing ---------------------------------------------------------------------------------------------------
    def add(self, rows: Sequence[MemoryRow]) -> int:
        """Store the rows whose message id is not stored yet; returns how many were added."""
        known = self.known_ids()
        fresh, seen = [], set()
        for row in rows:
            if row.message_id not in known and row.message_id not in seen:
                seen.add(row.message_id)
                fresh.append(row)
        if not fresh:
            return 0
        table = self._batch(fresh)
        if self._table is None:
            self._table = self._db.create_table(TABLE, data=table, schema=table.schema, exist_ok=False)
            added = len(fresh)
        else:  # insert-if-absent by message id: another process (the bot, an embed job) may have added some since
            self._table.checkout_latest()  # the join must see what the other process wrote, not our last version
            before = self._table.version
            result = self._table.merge_insert("message_id").when_not_matched_insert_all().execute(table)
            added = int(result.num_inserted_rows)
            self._copy.added(table, before, self._table.version)
        known.update(seen)
        return added

    def _batch(self, rows: Sequence[MemoryRow]) -> pa.Table:
        if self._dim is None:
            raise MemoryStoreError(f"{self.folder}: no memory table yet and no vector size given")
        vectors = np.asarray([row.vector for row in rows], dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dim or not np.isfinite(vectors).all():
            raise MemoryStoreError(f"{self.folder}: vectors must be {self._dim} finite numbers each, got shape "
                              f"{vectors.shape}")
        columns = {
            "message_id": pa.array([row.message_id for row in rows], pa.int64()),
            "channel_id": pa.array([row.channel_id for row in rows], pa.int64()),
            "author_id": pa.array([row.author_id for row in rows], pa.int64()),
            "created_at": pa.array([row.created_at for row in rows], pa.string()),
            "timestamp": pa.array([timestamp_of(row.created_at) for row in rows], pa.float64()),
            "text": pa.array([row.text for row in rows], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), self._dim),
        }
        return pa.Table.from_pydict(columns, schema=schema(self._dim))

    def delete_authors(self, user_ids: Iterable[int]) -> int:
        """Delete every row written by these users and purge old versions so their text leaves the folder."""
        return self._delete("author_id", user_ids)

    def delete_messages(self, message_ids: Iterable[int]) -> int:
        """Delete these messages (deleted or edited on Discord) and purge old versions, as ``delete_authors``."""
        return self._delete("message_id", message_ids)

    def _delete(self, column: str, values: Iterable[int]) -> int:
        ids = sorted({int(value) for value in values})
        if self._table is None or not ids:
            return 0
        where = f"{column} IN ({id_list(ids)})"
        doomed = self._table.count_rows(where)
        if doomed:
            self._table.delete(where)
            for store in list(OPEN_STORES):  # before this returns, no store in this process can find them any more
                if store.folder.resolve() == self.folder.resolve():
                    store._copy.dropped(column, ids)
            self.purge_old_versions()
            self._known = None
        return doomed

    def purge_old_versions(self) -> None:
        """Compact the files and keep only the latest version (deleted rows live on in older ones otherwise)."""
        if self._table is None:
            return
        with warnings.catch_warnings():  # the warning is about concurrent readers of old versions: we mean it
            warnings.simplefilter("ignore", UserWarning)
            self._table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)

    def ensure_index(self, threshold: int) -> str:
        """Build the vector index once the table has ``threshold`` rows; fold new rows into an existing one.

        Returns "created", "updated" or "none". Unindexed rows are still searched (by a flat scan), so this is
        about speed, never about which rows can be found. Only ``search_lancedb`` uses this index: ``search`` answers
        from the in-memory copy."""
        if self._table is None or self.count() < max(threshold, 256):  # PQ training needs a few hundred rows
            return "none"
        if not self.indexed():
            self._table.create_index("vector", config=lancedb.index.IvfPq(distance_type="cosine"))
            return "created"
        stats = self._table.index_stats(self._index_name())
        if stats is not None and stats.num_unindexed_rows:
            self._table.optimize()
            return "updated"
        return "none"

    def indexed(self) -> bool:
        return self._index_name() is not None

    def _index_name(self) -> str | None:
        if self._table is None:
            return None
        return next((index.name for index in self._table.list_indices() if "vector" in index.columns), None)

    # -- reading ---------------------------------------------------------------------------------------------------
    def known_ids(self) -> set[int]:
        """Every stored message id (cached: this store's own adds keep it current)."""
        if self._known is None:
            if self._table is None:
                self._known = set()
            else:
                column = self._table.search().select(["message_id"]).limit(None).to_arrow().column("message_id")
                self._known = set(column.to_pylist())
        return self._known

    def count(self) -> int:
        return 0 if self._table is None else self._table.count_rows()

    def search(self, vector: Sequence[float], k: int = 5, *, channel_id: int | None = None,
               exclude_authors: Iterable[int] = (), recency_weight: float = 0.2, half_life_days: float = 30.0,
               now: float | None = None) -> list[MemoryHit]:
        """The ``k`` best memories for ``vector`` (an L2-normalised embedding), best first, from the in-memory copy."""
        if k <= 0:
            return []
        weight = min(max(float(recency_weight), 0.0), 1.0)
        excluded = frozenset(int(author) for author in exclude_authors)
        with self._copy.lock:
            index = self._fresh_copy()
            if index is None:
                return []
            rows = index.search(vector, k * CANDIDATE_FACTOR if weight else k, channel_id=channel_id,
                                excluded=excluded)  # excluded authors are filtered before ranking: no slack needed
        return rank(rows, k, weight, half_life_days, time.time() if now is None else now)

    def search_lancedb(self, vector: Sequence[float], k: int = 5, *, channel_id: int | None = None,
                       exclude_authors: Iterable[int] = (), recency_weight: float = 0.2, half_life_days: float = 30.0,
                       now: float | None = None) -> list[MemoryHit]:
        """``search`` by a LanceDB query (its vector index when built): the baseline the bench and tests compare."""
        if self._table is None or k <= 0:
            return []
        weight = min(max(float(recency_weight), 0.0), 1.0)
        excluded = {int(author) for author in exclude_authors}
        wanted = (k * CANDIDATE_FACTOR if weight else k) + EXCLUDED_SLACK * min(len(excluded), 4)
        query = (self._table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
                 .distance_type("cosine").limit(wanted)
                 .select(["message_id", "channel_id", "author_id", "created_at", "timestamp", "text", "_distance"]))
        if channel_id is not None:  # a quiet channel's rows may all lie outside the nearest partitions: prefilter
            query = query.where(f"channel_id = {int(channel_id)}", prefilter=True)
        if self.indexed():
            query = query.nprobes(NPROBES).refine_factor(1)  # exact distances for the returned rows: PQ's own are
            #                                               rough (0.6 for a true 0.99), and callers threshold on them
        rows = [row for row in query.to_arrow().to_pylist() if row["author_id"] not in excluded]
        return rank(rows, k, weight, half_life_days, time.time() if now is None else now)

    # -- the in-memory copy ----------------------------------------------------------------------------------------
    def _fresh_copy(self):
        """The search copy, up to date within REFRESH_INTERVAL; None while the folder holds no table."""
        if self._table is None:  # another process may have created it since this store was opened
            moment = time.monotonic()
            if moment - self._copy.checked_at < REFRESH_INTERVAL:
                return None
            self._copy.checked_at = moment
            if TABLE not in self._db.list_tables().tables:
                return None
            self._table = self._db.open_table(TABLE)
            self._dim = self.dim
        return self._copy.fresh(self._table, self._dim, REFRESH_INTERVAL)  # not self.dim: a LanceDB call each time

    def copy_figures(self) -> dict:
        """Rows and megabytes of the in-memory search copy (for the bench); builds it if no search has yet."""
        with self._copy.lock:
            index = self._fresh_copy()
            return {"rows": 0 if index is None else index.size,
                    "megabytes": 0.0 if index is None else round(index.nbytes() / 2**20, 1)}


def rank(rows: list[dict], k: int, weight: float, half_life_days: float, now: float) -> list[MemoryHit]:
    hits = []
    for row in rows:
        similarity = 1.0 - float(row["_distance"])
        score = (1.0 - weight) * similarity + weight * recency(row["timestamp"], now, half_life_days)
        hits.append(MemoryHit(row["message_id"], row["channel_id"], row["author_id"], row["created_at"], row["text"],
                              round(similarity, 6), round(score, 6)))
    hits.sort(key=lambda hit: (-hit.score, -hit.message_id))
    return hits[:k]


def forget_authors(folder: Path, user_ids: Iterable[int]) -> int:
    """Delete these users' memories from the folder, if it holds a memory at all (the forget/opt-out path)."""
    if not (Path(folder) / f"{TABLE}.lance").exists():
        return 0
    return MemoryStore(folder).delete_authors(user_ids)
