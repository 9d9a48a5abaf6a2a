"""Keeps a memory table's in-memory search copy (``storage.vector_index.VectorIndex``) in step with the table.

Only in memory: nothing here is written to disk, so after a forget no file holds the forgotten text. The copy is
built on first use (~0.6 s at 100k rows). The owning store applies its own adds and deletes to it at once; what other
processes wrote is found by checking the table's version (~0.5 ms) at most once per refresh interval, and then by
diffing message ids (~35 ms at 100k rows): new rows are read by id, vanished ones dropped. A large addition (a first
``embed``) rereads the whole table instead, which is cheaper than a filter listing thousands of ids. A table from
before guild ids is read without that column (guild 0); ``reset`` drops the copy when rows changed in place (the
guild upgrade), which the id diff cannot see.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from storage.vector_index import COLUMNS, VectorIndex

REBUILD_SHARE = 0.25  # when another process added more than this share of the rows, reread the whole table
REBUILD_MIN = 1000


def id_filter(ids: Sequence[int]) -> str:
    return f"message_id IN ({', '.join(str(int(value)) for value in ids)})"  # int(): only digits reach the filter


def columns_of(table) -> list[str]:
    """The copy's columns that ``table`` has (``guild_id`` is missing from a table written before it)."""
    names = set(table.schema.names)
    return [name for name in COLUMNS if name in names]


class SearchCopy:
    """The copy of one LanceDB table; ``lock`` guards it (a search reads it while the bot's writes change it)."""

    def __init__(self):
        self.index: VectorIndex | None = None
        self.synced_version: int | None = None  # the table version the copy last matched
        self.checked_at = 0.0
        self.lock = threading.RLock()

    def fresh(self, table, dim: int, interval: float, *, force: bool = False) -> VectorIndex:
        """The copy, built now if it is not yet, and caught up with ``table`` when ``interval`` seconds passed
        (or now, with ``force``)."""
        moment = time.monotonic()
        if self.index is not None and not force and moment - self.checked_at < interval:
            return self.index
        self.checked_at = moment
        table.checkout_latest()  # a reread must never see an older version than a delete already dropped
        version = table.version
        if self.index is None:
            self._rebuild(table, dim, version)
        elif version != self.synced_version:
            self._catch_up(table, dim, version)
        return self.index

    def _rebuild(self, table, dim: int, version: int) -> None:
        self.index = VectorIndex.from_arrow(dim, table.to_arrow().select(columns_of(table)))
        self.synced_version = version

    def _catch_up(self, table, dim: int, version: int) -> None:
        stored = table.search().select(["message_id"]).limit(None).to_arrow().column("message_id").to_numpy()
        held = self.index.message_ids()
        added = np.setdiff1d(stored, held, assume_unique=True)
        if len(added) > max(REBUILD_MIN, REBUILD_SHARE * len(held)):
            self._rebuild(table, dim, version)
            return
        self.index.remove("message_id", np.setdiff1d(held, stored, assume_unique=True).tolist())
        if len(added):
            self.index.add(table.search().where(id_filter(added.tolist())).select(columns_of(table)).limit(None)
                           .to_arrow())
        self.synced_version = version

    def added(self, rows: pa.Table, before: int, after: int) -> None:
        """The owner wrote ``rows``, taking the table from version ``before`` to ``after``."""
        with self.lock:
            if self.index is not None:
                self.index.add(rows)
                if self.synced_version == before and after == before + 1:
                    self.synced_version = after  # nobody else wrote in between: no diff needed at the next check

    def reset(self) -> None:
        """Forget the copy: the next search rebuilds it from the table."""
        with self.lock:
            self.index, self.synced_version = None, None

    def dropped(self, column: str, ids: Sequence[int]) -> None:
        """Rows whose ``column`` (message_id or author_id) is among ``ids`` were deleted from the table."""
        with self.lock:
            if self.index is not None:
                self.index.remove(column, ids)
