"""The memory table's shape and the rules for writing it: rows and hits (and how hits are ranked), the schema, the
writers' lock, and the in-place upgrade of a folder written before rows carried their server (``guild_id``).

One cross-process lock (``memory_lock``, a ``filelock.FileLock``) covers every write to a memory folder: creating
the table, adding, deleting, compacting and cleaning up old versions, building the index, upgrading the schema.
LanceDB's cleanup of old versions (``delete_unverified=True``) may otherwise delete the files of a write that another
process has in flight, which can corrupt the table (the bot capturing while a forget runs, a forget during ``embed``).
The lock file lies beside the folder (``WORKSPACE/memory.lock``), so deleting the folder never deletes a held lock
(Windows cannot delete a locked file). Readers never take it: a search may find that the version it was reading was
cleaned up, and re-opens the table at its latest version instead (``storage.memory``). The lock is reentrant within
a thread and shared by every store on the folder in this process, so a caller may hold it across several writes.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
from filelock import FileLock, Timeout

LOCK_TIMEOUT = 120.0  # seconds a writer waits: a compaction of a large table takes seconds, a stuck one forever
NO_GUILD = 0          # guild_id of a direct message, or of a row whose channel's server is unknown
SECONDS_PER_DAY = 86_400.0


class MemoryStoreError(Exception):
    """The memory folder cannot be used as asked (wrong vector size, bad rows, busy); the message names the folder."""


@dataclass(frozen=True)
class MemoryRow:
    message_id: int
    channel_id: int
    author_id: int
    created_at: str          # ISO 8601 with a time zone, as stored in SQLite
    text: str                # cleaned and scrubbed: what the bot may quote back
    vector: Sequence[float]  # L2-normalised embedding of ``text``
    guild_id: int = NO_GUILD  # the channel's server (0: a DM)


@dataclass(frozen=True)
class MemoryHit:
    message_id: int
    channel_id: int
    author_id: int
    created_at: str
    text: str
    similarity: float        # cosine similarity to the query, -1..1
    score: float             # (1 - w) * similarity + w * recency; hits are sorted by it
    guild_id: int = NO_GUILD


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("channel_id", pa.int64(), nullable=False),
        pa.field("guild_id", pa.int64(), nullable=False),
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


def rank(rows: list[dict], k: int, weight: float, half_life_days: float, now: float) -> list[MemoryHit]:
    """The ``k`` best of ``rows`` (dicts with a cosine ``_distance``, as LanceDB returns them) as hits, best first."""
    hits = []
    for row in rows:
        similarity = 1.0 - float(row["_distance"])
        score = (1.0 - weight) * similarity + weight * recency(row["timestamp"], now, half_life_days)
        hits.append(MemoryHit(row["message_id"], row["channel_id"], row["author_id"], row["created_at"], row["text"],
                              round(similarity, 6), round(score, 6), int(row.get("guild_id") or NO_GUILD)))
    hits.sort(key=lambda hit: (-hit.score, -hit.message_id))
    return hits[:k]


def channel_set(channels: Iterable[int] | None) -> frozenset[int]:
    """The channels a search may look in; None means none (a forgotten scope must never mean everything)."""
    if channels is None:
        return frozenset()
    return channels if isinstance(channels, frozenset) else frozenset(int(channel) for channel in channels)


def id_list(values) -> str:
    return ", ".join(str(int(value)) for value in values)  # int(): nothing but digits reaches the filter text


# -- the writers' lock -----------------------------------------------------------------------------------------------
def lock_path(folder: Path) -> Path:
    """``WORKSPACE/memory.lock`` for ``WORKSPACE/memory``: beside the folder, never inside it."""
    folder = Path(folder).resolve()
    return folder.with_name(folder.name + ".lock")


@contextmanager
def memory_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's writers' lock (waiting up to LOCK_TIMEOUT); reentrant, so writes inside may take it too."""
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    # is_singleton: every store on this folder in this process shares one lock object, so a hold by one of them
    # does not block another in the same thread (per-thread holds stay exclusive between threads)
    lock = FileLock(path, is_singleton=True)
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout:
        raise MemoryStoreError(f"{Path(folder)}: another process has been writing the memory for over "
                               f"{LOCK_TIMEOUT:.0f} s (lock file {path}); try again when it is done") from None
    try:
        yield
    finally:
        lock.release()


# -- rows from before guild ids --------------------------------------------------------------------------------------
def has_guilds(table) -> bool:
    return "guild_id" in table.schema.names


def add_guild_column(table) -> bool:
    """Give a table from before guild ids its ``guild_id`` column (0 in every row); True when it was missing.
    The caller holds the lock."""
    if has_guilds(table):
        return False
    table.add_columns({"guild_id": f"CAST({NO_GUILD} AS BIGINT)"})
    return True


def fill_guilds(table, channel_guilds: Mapping[int, int]) -> int:
    """Set ``guild_id`` on rows still without one whose channel's server ``channel_guilds`` knows; returns how many.
    The caller holds the lock. DM rows (no server) stay 0, and cost one count per server on each call."""
    if not channel_guilds or table.count_rows(f"guild_id = {NO_GUILD}") == 0:
        return 0
    by_guild: dict[int, list[int]] = {}
    for channel_id, guild_id in channel_guilds.items():
        if guild_id:
            by_guild.setdefault(int(guild_id), []).append(int(channel_id))
    filled = 0
    for guild_id, channels in sorted(by_guild.items()):
        where = f"guild_id = {NO_GUILD} AND channel_id IN ({id_list(sorted(channels))})"
        count = table.count_rows(where)
        if count:  # an update with nothing to change would still write a version
            table.update(where=where, values={"guild_id": guild_id})
            filled += count
    return filled
