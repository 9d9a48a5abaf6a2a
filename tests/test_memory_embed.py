"""``embed`` end to end with the real parts: a SQLite workspace, the worker subprocess, all-MiniLM-L6-v2 from its
package, a LanceDB folder. A second run embeds nothing new; bots, system messages, commands and opted-out users are
never embedded; the stored text is scrubbed; forget and opt-out delete the rows (and forget the text from the
folder's bytes); search finds the planted message; the bot's LiveMemory adds live messages once."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.config.app_config import MemoryConfig
from core.memory.selection import MemoryMessage
from storage.memory import MemoryStore
from tests.conftest import run_cli
from tests.test_dataset_support import History

pytestmark = pytest.mark.slow

ANN, CID, OLA, BOT = 401, 402, 403, 404
ZEBRA = "the zebra herd migrates north across the river every spring"
OLA_SECRET = "ola-private-words-marmoset"
ANN_EMAIL = "ann.private@example.com"


def seed(workspace) -> dict[str, int]:
    history = History()
    for user_id, name in ((ANN, "Ann"), (CID, "Cid"), (OLA, "Ola")):
        history.user(user_id, name)
    history.user(BOT, "Helper Bot", bot=True)
    general = history.channel(8100, "general")
    ids = {"zebra": history.say(general, ANN, ZEBRA)}
    for number, line in enumerate(("pizza tonight?", "my cat knocked over a plant", "the build is broken again",
                                   "who is playing later", "new keyboard arrived")):
        history.say(general, CID, f"{line} ({number})")
    ids["email"] = history.say(general, ANN, f"mail me at {ANN_EMAIL} about it")
    ids["ola"] = history.say(general, OLA, f"{OLA_SECRET} and more")
    ids["bot"] = history.say(general, BOT, "I am a bot and should be forgotten by memory")
    ids["command"] = history.say(general, CID, "!play some song")
    ids["pin"] = history.say(general, ANN, "Ann pinned a message", kind="ChannelPinnedMessage")
    history.write(workspace.connect())
    return ids


def cli(workspace, *argv) -> dict:
    code, out, err = run_cli(*argv, "--json", workspace=workspace)
    assert code == 0, err
    return json.loads(out)


def stored(workspace) -> dict[int, str]:
    store = MemoryStore(workspace.memory_dir)
    table = store._table.to_arrow() if store._table is not None else None
    return {} if table is None else dict(zip(table.column("message_id").to_pylist(), table.column("text").to_pylist()))


def folder_contains(folder, needle: str) -> bool:
    return any(needle.encode() in path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_embed_twice_embeds_nothing_new_and_forget_removes_the_rows_and_text(workspace):
    ids = seed(workspace)
    cli(workspace, "personas", "optout", str(CID))  # opted out before anything was embedded
    first = cli(workspace, "embed")
    assert first["embedded"] == 3 and first["rows"] == 3  # Ann's two, Ola's one; Cid opted out
    assert first["skipped_by_reason"] == {"opted_out": 6, "bot": 1, "system": 1, "command": 0, "empty": 0,
                                          "attachment_only": 0}  # the command is Cid's: opted out comes first
    assert first["skipped"] == 8 and first["seconds"] > 0
    rows = stored(workspace)
    assert set(rows) == {ids["zebra"], ids["email"], ids["ola"]}
    assert ANN_EMAIL not in rows[ids["email"]] and "[EMAIL]" in rows[ids["email"]]
    second = cli(workspace, "embed")
    assert second["embedded"] == 0 and second["already_embedded"] == 3 and second["rows"] == 3
    assert folder_contains(workspace.memory_dir, OLA_SECRET)
    cli(workspace, "personas", "forget", str(OLA), "--yes")
    assert ids["ola"] not in stored(workspace) and not folder_contains(workspace.memory_dir, OLA_SECRET)
    assert cli(workspace, "personas", "optout", str(ANN))["memories_deleted"] == 2
    assert stored(workspace) == {}
    third = cli(workspace, "embed")  # nobody left who may be remembered
    assert third["embedded"] == 0 and third["rows"] == 0 and third["skipped_by_reason"]["opted_out"] == 9


@pytest.fixture(scope="module")
def embedder():
    from model.embedding import Embedder
    return Embedder()


def test_embedder_vectors_are_unit_float32_and_similar_texts_are_close(embedder):
    vectors = embedder.encode(["zebras migrate in spring", "in spring the zebra herds move", "my printer is jammed"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, embedder.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.encode([]).shape == (0, 384)


def test_live_memory_adds_live_messages_once_and_recalls_the_planted_one(workspace, embedder):
    from model.embedding import LiveMemory
    ids = seed(workspace)
    cli(workspace, "personas", "optout", str(OLA))
    memory = LiveMemory.open(workspace, MemoryConfig(recency_weight=0.0), embedder=embedder)

    def live(message_id, author, text, **extra):
        return MemoryMessage(message_id, 8100, author, "2026-11-30T10:00:00+00:00", text, **extra)
    messages = [live(ids["zebra"], ANN, ZEBRA), live(7001, CID, "lunch was great today"),
                live(7002, BOT, "beep boop", is_bot=True), live(7003, OLA, f"{OLA_SECRET} live"),
                live(7004, CID, "Ann joined the server", message_type="GuildMemberJoin"),
                live(7005, ANN, f"new address {ANN_EMAIL}")]
    assert memory.add_messages(messages) == 3
    assert memory.add_messages(messages) == 0
    rows = stored(workspace)
    assert set(rows) == {ids["zebra"], 7001, 7005} and ANN_EMAIL not in rows[7005]
    hits = memory.recall("when do the zebras cross the river?", channels={8100}, k=2)
    assert hits[0].message_id == ids["zebra"] and hits[0].similarity > hits[1].similarity
    assert memory.recall("anything", channels={9999}) == []
    assert memory.recall("when do the zebras cross the river?", channels=None) == []  # no scope: nothing


def test_opening_the_live_memory_builds_the_search_copy_before_the_first_recall(workspace):
    from model.embedding import LiveMemory
    from storage.memory import MemoryRow, MemoryStore
    embedder = HashEmbedder()
    texts = [f"message number {n}" for n in range(50)]
    MemoryStore(workspace.memory_dir, embedder.dim).add(
        [MemoryRow(9000 + n, 8100, ANN, "2026-11-30T10:00:00+00:00", text, vector)
         for n, (text, vector) in enumerate(zip(texts, embedder.encode(texts)))])
    memory = LiveMemory.open(workspace, MemoryConfig(), embedder=embedder)
    assert memory.store._copy.index is not None and memory.store._copy.index.size == 50


class HashEmbedder:
    """A fake embedder for the worker's batching logic: 8-dimension unit vectors, one per text, counting texts."""
    dim = 8

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        vectors = np.array([[len(text) + 1.0, *(float(ord(c)) for c in text[:7].ljust(7))] for text in texts],
                           dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class StopAfter:
    """A worker link that asks to stop once ``emits`` progress events were sent."""

    def __init__(self, emits: int):
        self.emits, self.events = emits, []

    def emit(self, event):
        self.events.append(event)

    def stop_requested(self) -> bool:
        return len(self.events) >= self.emits


def pending_pairs(count: int) -> list[tuple[MemoryMessage, str]]:
    return [(MemoryMessage(1000 + i, 1, 2, "2026-01-01T00:00:00+00:00", "x" * (i % 5 + 1)), "x" * (i % 5 + 1))
            for i in range(count)]


def test_longest_first_is_one_global_order_by_length_then_id():
    from model.embed_worker import longest_first
    ordered = longest_first(pending_pairs(10))
    assert [len(text) for _, text in ordered] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert [m.message_id for m, _ in ordered[:2]] == [1004, 1009]


def test_a_stopped_run_keeps_its_batches_and_the_next_embeds_exactly_the_rest(tmp_path):
    from model.embed_worker import Phases, encode_and_store, longest_first
    pairs = longest_first(pending_pairs(10))
    from storage.db import connect
    store, embedder, conn = MemoryStore(tmp_path / "memory", 8), HashEmbedder(), connect(tmp_path / "studio.db")
    embedded, stopped = encode_and_store(pairs, 3, embedder, store, conn, StopAfter(2), Phases(), done=0, total=10)
    assert (embedded, stopped) == (6, True) and store.count() == 6
    rest = [pair for pair in pairs if pair[0].message_id not in store.known_ids()]
    link = StopAfter(99)
    embedded, stopped = encode_and_store(rest, 3, embedder, store, conn, link, Phases(), done=6, total=10)
    assert (embedded, stopped) == (4, False) and store.count() == 10
    assert sorted(store.known_ids()) == list(range(1000, 1010)) and len(embedder.seen) == 10  # none encoded twice
    assert [event.step for event in link.events] == [9, 10]


def test_small_batches_embed_the_expected_rows_compaction_waits_and_forget_still_erases(workspace):
    ids = seed(workspace)
    first = cli(workspace, "embed", "--batch-size", "3")  # 8 texts: 3 batches, 3 table versions
    rows = stored(workspace)
    assert first["embedded"] == 8 == len(rows) and first["skipped"] == 3 and first["index"] == "none"
    assert {ids["zebra"], ids["email"], ids["ola"]} <= set(rows)
    assert not {ids["bot"], ids["command"], ids["pin"]} & set(rows)
    assert {"imports", "store", "read", "model", "encode", "write", "finish"} <= set(first["phases"])
    assert len(MemoryStore(workspace.memory_dir)._table.list_versions()) == 3  # a new small table: not compacted
    assert cli(workspace, "embed")["embedded"] == 0  # the table is not new now: this run compacts it
    assert len(MemoryStore(workspace.memory_dir)._table.list_versions()) == 1
    cli(workspace, "personas", "forget", str(OLA), "--yes")
    assert ids["ola"] not in stored(workspace) and not folder_contains(workspace.memory_dir, OLA_SECRET)


def old_folder(folder, dim: int, rows: list[tuple[int, int, str]]) -> None:
    """A memory folder as storage/memory.py wrote it before rows carried their server: no guild_id column."""
    import lancedb
    import pyarrow as pa
    old_schema = pa.schema([
        pa.field("message_id", pa.int64(), nullable=False), pa.field("channel_id", pa.int64(), nullable=False),
        pa.field("author_id", pa.int64(), nullable=False), pa.field("created_at", pa.string(), nullable=False),
        pa.field("timestamp", pa.float64(), nullable=False), pa.field("text", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False)])
    vectors = np.random.default_rng(0).normal(size=(len(rows), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = pa.Table.from_pydict({
        "message_id": [row[0] for row in rows], "channel_id": [row[1] for row in rows], "author_id": [ANN] * len(rows),
        "created_at": ["2026-11-30T10:00:00+00:00"] * len(rows), "timestamp": [1.8e9] * len(rows),
        "text": [row[2] for row in rows],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)}, schema=old_schema)
    lancedb.connect(str(folder)).create_table("messages", data=table, schema=old_schema)


def guilds_stored(workspace) -> dict[int, int]:
    table = MemoryStore(workspace.memory_dir)._table.to_arrow()
    return dict(zip(table.column("message_id").to_pylist(), table.column("guild_id").to_pylist()))


def test_a_folder_from_before_guild_ids_is_read_then_upgraded_in_place_by_the_live_memory(workspace):
    from model.embedding import LiveMemory
    from tests.test_dataset_support import GUILD_ID
    ids = seed(workspace)
    old_folder(workspace.memory_dir, HashEmbedder.dim, [(ids["zebra"], 8100, "old zebra row"),
                                                        (5, 555, "a direct message: no server")])
    before = MemoryStore(workspace.memory_dir)  # a reader (the chat playground) before any writer upgraded it
    assert [hit.guild_id for hit in before.search(np.ones(8) / np.sqrt(8), k=5, channels={8100, 555})] == [0, 0]
    memory = LiveMemory.open(workspace, MemoryConfig(recency_weight=0.0), embedder=HashEmbedder())
    assert guilds_stored(workspace) == {ids["zebra"]: GUILD_ID, 5: 0}  # filled from SQLite's channels; a DM stays 0
    live = MemoryMessage(7001, 8100, CID, "2026-11-30T11:00:00+00:00", "lunch was great", guild_id=GUILD_ID)
    assert memory.add_messages([live]) == 1
    assert guilds_stored(workspace)[7001] == GUILD_ID
    hits = memory.recall("old zebra row", channels={8100}, k=5)
    assert {hit.message_id: hit.guild_id for hit in hits} == {ids["zebra"]: GUILD_ID, 7001: GUILD_ID}
    assert LiveMemory.open(workspace, embedder=HashEmbedder()).store.fill_guilds({8100: GUILD_ID}) == 0  # once


def test_embed_upgrades_an_old_folder_and_every_row_carries_its_server(workspace):
    from tests.test_dataset_support import GUILD_ID
    ids = seed(workspace)
    old_folder(workspace.memory_dir, 384, [(ids["zebra"], 8100, "old zebra row")])
    result = cli(workspace, "embed")
    assert result["embedded"] == 7 and result["already_embedded"] == 1
    guilds = guilds_stored(workspace)
    assert len(guilds) == 8 and set(guilds.values()) == {GUILD_ID}  # the old row filled, the new ones written so
