"""Train/val/test assignment by conversation, so no conversation (and no context) is in two splits.

``by conversation`` (default): a seeded hash of the conversation's first message id picks the split with the
configured ratios: reproducible for a fixed seed, stable when more history is imported later.
``by time``: the latest slice is the test set: conversations starting after the (train+val) quantile of message ids
(snowflakes are time-ordered) go to test, those after the train quantile to val, the rest to train.
"""
from __future__ import annotations

import functools
import sqlite3

from core.config.app_config import DatasetConfig
from core.dataset import DatasetError

SPLITS = ("train", "val", "test")
MASK64 = (1 << 64) - 1


def mix64(value: int) -> int:
    """splitmix64's finaliser: a fast, well-mixed 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


@functools.cache
def mixed_seed(seed: int) -> int:
    return mix64(seed & MASK64)


def unit_interval(value: int, seed: int) -> float:
    """A deterministic pseudo-random number in [0, 1) for ``value`` under ``seed``."""
    return (mix64((value & MASK64) ^ mixed_seed(seed)) >> 11) * (1.0 / (1 << 53))


def normalised_ratios(ratios: list[float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise DatasetError(f"dataset.split_ratios must be three non-negative numbers (train, val, test), not {ratios}")
    total = float(sum(ratios))
    return ratios[0] / total, ratios[1] / total, ratios[2] / total


class Splitter:
    def __init__(self, config: DatasetConfig, conn: sqlite3.Connection | None = None):
        self.train, self.val, _ = normalised_ratios(list(config.split_ratios))
        self.seed = config.seed
        self.by = config.split_by
        if self.by not in ("conversation", "time"):
            raise DatasetError(f"dataset.split_by must be 'conversation' or 'time', not {self.by!r}")
        self.val_from = self.test_from = None
        if self.by == "time":
            if conn is None:
                raise DatasetError("a time split needs the database")
            self.val_from, self.test_from = time_cutoffs(conn, self.train, self.train + self.val)

    def split(self, first_message_id: int) -> str:
        if self.by == "time":
            if self.test_from is not None and first_message_id >= self.test_from:
                return "test"
            if self.val_from is not None and first_message_id >= self.val_from:
                return "val"
            return "train"
        point = unit_interval(first_message_id, self.seed)
        if point < self.train:
            return "train"
        return "val" if point < self.train + self.val else "test"


def time_cutoffs(conn: sqlite3.Connection, val_quantile: float, test_quantile: float) -> tuple[int | None, int | None]:
    """Message ids at the two quantiles (None where the slice is empty)."""
    total = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def at(quantile: float) -> int | None:
        offset = int(total * quantile)
        if offset >= total:
            return None
        row = conn.execute("SELECT id FROM messages ORDER BY id LIMIT 1 OFFSET ?", (offset,)).fetchone()
        return int(row[0]) if row else None
    return at(val_quantile), at(test_quantile)
