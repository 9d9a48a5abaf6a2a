"""The bot's long-term memory: embedded messages in a LanceDB folder (``WORKSPACE/memory``), one row per message.

Rows hold the cleaned, scrubbed text (never the raw content), the message's ids (its channel's server included) and
time, and its embedding; the vectors come from ``model.embedding`` (this module has no ML imports and never computes
one). A message id is stored at most once. Search is cosine similarity, mixed with recency so that of two similar
memories the newer one wins, and it only ever looks at the channels its caller names: no channels, no memories.
It answers from an in-memory copy of the table (``storage.vector_index``; a LanceDB query costs ~5 ms even at 10k
rows): this store's own adds and deletes change the copy at once (and deletes reach every other store on the folder in
this process), and at most every ``REFRESH_INTERVAL`` a search checks the table's version (~0.5 ms) and takes in what
another process added or deleted since.
Every write holds the folder's cross-process lock (``storage.memory_table.memory_lock``); reads take none, and a read
whose version another process's cleanup removed is retried once at the latest version.
Deleting authors (forget, opt-out) compacts the table and removes every older version, because LanceDB otherwise
keeps the deleted rows' text in the files of earlier versions. A folder written before rows carried ``guild_id`` is
upgraded in place by the first writer that opens it with the channels' servers (``fill_guilds``).
"""
from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from storage.memory_table import (NO_GUILD, MemoryHit, MemoryRow, MemoryStoreError, add_guild_column, channel_set,
                                  fill_guilds, has_guilds, id_list, memory_lock, rank, schema, timestamp_of)
from storage.search_copy import SearchCopy

__all__ = ["MemoryHit", "MemoryRow", "MemoryStore", "MemoryStoreError", "forget_authors", "memory_lock", "schema"]

TABLE = "messages"
CANDIDATE_FACTOR = 4        # with recency mixed in, rank this many times k by similarity first, then re-score
NPROBES = 20                # IVF partitions searched: the index's recall/latency trade-off (LanceDB's default)
EXCLUDED_SLACK = 8          # extra candidates fetched per excluded author, which are then dropped here: a filter
#                             inside the vector query (prefilter) costs a scan of the author column on every search
READ_CONSISTENCY = timedelta(seconds=2)  # a reader (the bot) sees rows another process added within this long
REFRESH_INTERVAL = READ_CONSISTENCY.total_seconds()  # the search copy checks the table's version this often
SELECTED = ("message_id", "channel_id", "guild_id", "author_id", "created_at", "timestamp", "text", "_distance")
STALE_READ = (RuntimeError, OSError)  # LanceDB's "Not found" for a file a cleanup removed under a reader
OPEN_STORES: "weakref.WeakSet[MemoryStore]" = weakref.WeakSet()  # a delete reaches every store on its folder at once


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

    def _neighbours(self) -> list["MemoryStore"]:
        """Every open store on this folder in this process, this one included."""
        return [store for store in list(OPEN_STORES) if store.folder.resolve() == self.folder.resolve()]

    # -- writing (every write holds the folder's lock) -------------------------------------------------------------
    def writing(self):
        """The folder's writers' lock, for a caller that must hold it across several writes (delete, then purge)."""
        return memory_lock(self.folder)

    def _latest(self):
        """The table at its latest version (opened if another process created it since), or None. Under the lock."""
        if self._table is None:
            if TABLE not in self._db.list_tables().tables:
                return None
            self._table = self._db.open_table(TABLE)
            self._dim = self.dim
        else:
            self._table.checkout_latest()  # write on top of what other processes wrote, never on our last version
        return self._table

    def add(self, rows: Sequence[MemoryRow]) -> int:
        """Store the rows whose message id is not stored yet; returns how many were added."""
        with self.writing():
            table = self._latest()
            known = self.known_ids()
            fresh, seen = [], set()
            for row in rows:
                if row.message_id not in known and row.message_id not in seen:
                    seen.add(row.message_id)
                    fresh.append(row)
            if not fresh:
                return 0
            batch = self._batch(fresh)
            if table is None:
                self._table = self._db.create_table(TABLE, data=batch, schema=batch.schema, exist_ok=False)
                added = len(fresh)
            else:  # insert-if-absent by message id: another process (the bot, an embed job) may have added some
                add_guild_column(table)  # a folder from before guild ids: the new rows carry one
                before = table.version
                result = table.merge_insert("message_id").when_not_matched_insert_all().execute(batch)
                added = int(result.num_inserted_rows)
                self._copy.added(batch, before, table.version)
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
            "guild_id": pa.array([int(row.guild_id or NO_GUILD) for row in rows], pa.int64()),
            "author_id": pa.array([row.author_id for row in rows], pa.int64()),
            "created_at": pa.array([row.created_at for row in rows], pa.string()),
            "timestamp": pa.array([timestamp_of(row.created_at) for row in rows], pa.float64()),
            "text": pa.array([row.text for row in rows], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), self._dim),
        }
        return pa.Table.from_pydict(columns, schema=schema(self._dim))

    def fill_guilds(self, channel_guilds: Mapping[int, int]) -> int:
        """Upgrade a folder from before guild ids in place (the column, 0 everywhere), then give rows without a
        server their channel's (``channel_guilds``: channel id -> guild id, from SQLite); returns the rows filled.
        Writers that have the database (``embed``, the bot's memory) call it when they open the folder."""
        if self._table is None or (has_guilds(self._table) and not (channel_guilds and self._reading(
                lambda table: table.count_rows(f"guild_id = {NO_GUILD}")))):
            return 0
        with self.writing():
            table = self._latest()
            add_guild_column(table)
            filled = fill_guilds(table, channel_guilds)
        if filled:  # rows changed in place, ids did not: the copies' catch-up would not see it, so they rebuild
            for store in self._neighbours():
                store._copy.reset()
        return filled

    def delete_authors(self, user_ids: Iterable[int]) -> int:
        """Delete every row written by these users and purge old versions so their text leaves the folder."""
        return self._delete("author_id", user_ids)

    def delete_messages(self, message_ids: Iterable[int]) -> int:
        """Delete these messages (deleted or edited on Discord) and purge old versions, as ``delete_authors``."""
        return self._delete("message_id", message_ids)

    def _delete(self, column: str, values: Iterable[int]) -> int:
        ids = sorted({int(value) for value in values})
        if not ids:
            return 0
        with self.writing():
            table = self._latest()
            if table is None:
                return 0
            where = f"{column} IN ({id_list(ids)})"
            doomed = table.count_rows(where)
            if doomed:
                table.delete(where)
                for store in self._neighbours():  # before this returns, no store in this process can find them
                    store._copy.dropped(column, ids)
                self.purge_old_versions()
                self._known = None
        return doomed

    def purge_old_versions(self) -> None:
        """Compact the files and keep only the latest version (deleted rows live on in older ones otherwise)."""
        with self.writing():
            table = self._latest()
            if table is None:
                return
            with warnings.catch_warnings():  # the warning is about concurrent writers and readers of old versions:
                warnings.simplefilter("ignore", UserWarning)  # writers hold the lock, readers retry (see module doc)
                table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)

    def ensure_index(self, threshold: int) -> str:
        """Build the vector index once the table has ``threshold`` rows; fold new rows into an existing one.

        Returns "created", "updated" or "none". Unindexed rows are still searched (by a flat scan), so this is
        about speed, never about which rows can be found. Only ``search_lancedb`` uses this index: ``search`` answers
        from the in-memory copy."""
        if self._table is None or self.count() < max(threshold, 256):  # PQ training needs a few hundred rows
            return "none"
        with self.writing():
            table = self._latest()
            if not self.indexed():
                table.create_index("vector", config=lancedb.index.IvfPq(distance_type="cosine"))
                return "created"
            stats = table.index_stats(self._index_name())
            if stats is not None and stats.num_unindexed_rows:
                table.optimize()
                return "updated"
        return "none"

    def indexed(self) -> bool:
        return self._index_name() is not None

    def _index_name(self) -> str | None:
        if self._table is None:
            return None
        indices = self._reading(lambda table: table.list_indices())
        return next((index.name for index in indices if "vector" in index.columns), None)

    # -- reading (no lock) -----------------------------------------------------------------------------------------
    def _reading(self, read):
        """``read(table)``; once more on the table re-opened at its latest version when another process's cleanup
        removed the files of the version it was reading (readers take no lock, so this can happen)."""
        try:
            return read(self._table)
        except STALE_READ:
            self._table = self._db.open_table(TABLE)
            return read(self._table)

    def known_ids(self) -> set[int]:
        """Every stored message id (cached: this store's own adds keep it current)."""
        if self._known is None:
            if self._table is None:
                self._known = set()
            else:
                column = self._reading(lambda table: table.search().select(["message_id"]).limit(None).to_arrow())
                self._known = set(column.column("message_id").to_pylist())
        return self._known

    def count(self) -> int:
        return 0 if self._table is None else self._reading(lambda table: table.count_rows())

    def search(self, vector: Sequence[float], k: int = 5, *, channels: Iterable[int] | None,
               exclude_authors: Iterable[int] = (), recency_weight: float = 0.2, half_life_days: float = 30.0,
               now: float | None = None) -> list[MemoryHit]:
        """The ``k`` best memories for ``vector`` (an L2-normalised embedding) among the rows of ``channels`` (none
        when it is None or empty), best first, from the in-memory copy."""
        allowed = channel_set(channels)
        if k <= 0 or not allowed:
            return []
        weight = min(max(float(recency_weight), 0.0), 1.0)
        excluded = frozenset(int(author) for author in exclude_authors)
        with self._copy.lock:
            index = self._fresh_copy()
            if index is None:
                return []
            rows = index.search(vector, k * CANDIDATE_FACTOR if weight else k, channels=allowed,
                                excluded=excluded)  # excluded authors are filtered before ranking: no slack needed
        return rank(rows, k, weight, half_life_days, time.time() if now is None else now)

    def search_lancedb(self, vector: Sequence[float], k: int = 5, *, channels: Iterable[int] | None,
                       exclude_authors: Iterable[int] = (), recency_weight: float = 0.2, half_life_days: float = 30.0,
                       now: float | None = None) -> list[MemoryHit]:
        """``search`` by a LanceDB query (its vector index when built): the baseline the bench and tests compare."""
        allowed = channel_set(channels)
        if self._table is None or k <= 0 or not allowed:
            return []
        weight = min(max(float(recency_weight), 0.0), 1.0)
        excluded = {int(author) for author in exclude_authors}
        wanted = (k * CANDIDATE_FACTOR if weight else k) + EXCLUDED_SLACK * min(len(excluded), 4)
        indexed = self.indexed()

        def query(table) -> list[dict]:
            names = set(table.schema.names) | {"_distance"}
            found = (table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
                     .distance_type("cosine").limit(wanted).select([name for name in SELECTED if name in names])
                     # a quiet channel's rows may all lie outside the nearest partitions: prefilter
                     .where(f"channel_id IN ({id_list(sorted(allowed))})", prefilter=True))
            if indexed:  # exact distances for the returned rows: PQ's own are rough (0.6 for a true 0.99), and
                found = found.nprobes(NPROBES).refine_factor(1)  # callers threshold on them
            return found.to_arrow().to_pylist()
        rows = [row for row in self._reading(query) if row["author_id"] not in excluded]
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
        try:  # not self.dim below: that is a LanceDB call each time
            return self._copy.fresh(self._table, self._dim, REFRESH_INTERVAL)
        except STALE_READ:  # the version read was cleaned up meanwhile (see _reading): once more at the latest
            self._table = self._db.open_table(TABLE)
            return self._copy.fresh(self._table, self._dim, REFRESH_INTERVAL, force=True)

    def copy_figures(self) -> dict:
        """Rows and megabytes of the in-memory search copy (for the bench); builds it if no search has yet."""
        with self._copy.lock:
            index = self._fresh_copy()
            return {"rows": 0 if index is None else index.size,
                    "megabytes": 0.0 if index is None else round(index.nbytes() / 2**20, 1)}


def forget_authors(folder: Path, user_ids: Iterable[int]) -> int:
    """Delete these users' memories from the folder, if it holds a memory at all (the forget/opt-out path)."""
    if not (Path(folder) / f"{TABLE}.lance").exists():
        return 0
    return MemoryStore(folder).delete_authors(user_ids)
