"""Curation: marks in SQLite (storage.curation, migration 0006) keyed by the example's message id, read by a real
prepare of the sample server: bad examples are dropped, bad ones with a better answer become DPO pairs, and the marks
survive re-prepares. Also the example index the Dataset page pages through, and the panel's curation verbs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config.app_config import DatasetConfig
from core.config.resources import asset
from core.config.workspace import Workspace
from core.dataset.browse import ExampleIndex, split_trained
from core.dataset.pipeline import prepare_dataset
from core.dataset.preview import TRAIN_CLOSE, TRAIN_OPEN
from core.ingest.importer import import_paths
from storage import curation
from storage.curation import CurationError


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A workspace holding the imported sample server (imported once for the module)."""
    workspace = Workspace.open(tmp_path_factory.mktemp("curation") / "ws")
    conn = workspace.connect()
    import_paths(conn, [asset("sample_server", "export")])
    yield workspace, conn
    conn.close()


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def message_ids(folder: Path, name: str) -> list[str]:
    return [row["meta"]["message_id"] for row in rows(folder / name)]


def test_bad_marks_are_dropped_or_become_dpo_pairs_and_survive_re_prepares(sample, tmp_path):
    workspace, conn = sample
    config = DatasetConfig(min_messages=50)
    first = prepare_dataset(conn, config, tmp_path / "first")
    assert first["curation"] == {"marked_bad": 0, "dropped_bad": 0, "dpo_pairs": 0}
    train = rows(tmp_path / "first" / "train.jsonl")
    dropped, improved, kept = train[0], train[1], train[2]
    test_only = rows(tmp_path / "first" / "test.jsonl")[0]
    for example, mark, better in ((dropped, "bad", None), (improved, "bad", "a much better answer, mail me@x.org"),
                                  (kept, "good", None), (test_only, "bad", "better, but in the test split")):
        curation.set_mark(conn, example["meta"]["message_id"], example["meta"]["persona_id"], mark, better)
    for attempt in ("second", "third"):  # the marks hold for every later prepare, not only the next one
        stats = prepare_dataset(conn, config, tmp_path / attempt)
        folder = tmp_path / attempt
        everywhere = [*message_ids(folder, "train.jsonl"), *message_ids(folder, "val.jsonl"),
                      *message_ids(folder, "test.jsonl")]
        assert dropped["meta"]["message_id"] not in everywhere
        assert improved["meta"]["message_id"] not in everywhere
        assert test_only["meta"]["message_id"] not in everywhere
        assert kept["meta"]["message_id"] in everywhere
        pairs = [pair for pair in rows(folder / "dpo.jsonl") if pair["meta"].get("source") == "curation"]
        assert len(pairs) == 1  # the test split's better answer makes no pair: evaluation data stays out
        pair = pairs[0]
        assert pair["meta"]["message_id"] == improved["meta"]["message_id"]
        assert pair["chosen"] == [{"role": "assistant", "content": "a much better answer, mail [EMAIL]"}]  # scrubbed
        assert pair["rejected"] == [improved["messages"][-1]]
        assert pair["prompt"] == improved["messages"][:-1]
        assert stats["curation"] == {"marked_bad": 3, "dropped_bad": 3, "dpo_pairs": 1}
        assert stats["examples"]["train"] <= first["examples"]["train"]
    assert curation.counts(conn) == {"good": 1, "bad": 3, "better": 2}
    for example in (dropped, improved, kept, test_only):  # leave the module's database as it was
        curation.set_mark(conn, example["meta"]["message_id"], example["meta"]["persona_id"], None)


def test_a_deleted_message_or_user_takes_its_mark_along(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    conn = workspace.connect()
    import_paths(conn, [asset("sample_server", "export")])
    message_id, author_id = conn.execute("SELECT id, author_id FROM messages ORDER BY id LIMIT 1").fetchone()
    curation.set_mark(conn, message_id, author_id, "bad", "better")
    assert curation.bad_marks(conn) == {message_id: "better"}
    from storage.messages import delete_messages
    delete_messages(conn, [message_id])
    assert curation.marks(conn) == {}
    other = conn.execute("SELECT id, author_id FROM messages ORDER BY id LIMIT 1").fetchone()
    curation.set_mark(conn, other[0], other[1], "good")
    from storage.consent import forget_user
    forget_user(conn, other[1])
    assert curation.marks(conn) == {}
    conn.close()


def test_marks_are_validated(tmp_path):
    conn = Workspace.open(tmp_path / "ws").connect()
    with pytest.raises(CurationError, match="one of good, bad"):
        curation.set_mark(conn, 1, 2, "meh")
    with pytest.raises(CurationError, match="only a bad example"):
        curation.set_mark(conn, 1, 2, "good", "better answer")
    with pytest.raises(CurationError, match="must be numbers"):
        curation.set_mark(conn, "x1", 2, "bad")
    stored = curation.set_mark(conn, "7", "8", "bad", "   ")
    assert stored.better_answer is None and curation.bad_marks(conn) == {7: None}
    curation.set_mark(conn, 7, 8, "good")  # a new mark replaces the old one
    assert curation.marks(conn)[7].mark == "good" and curation.bad_marks(conn) == {}
    conn.close()


def test_the_example_index_lists_each_example_once_and_reads_pages(tmp_path):
    lines = []
    for number in range(5):
        record = {"messages": [{"role": "user", "content": f'he said "meta":{{"persona_id":"9"}} {number}'},
                               {"role": "assistant", "content": f"answer {number}"}],
                  "meta": {"persona_id": str(100 + number % 2), "conversation_id": "c", "message_id": str(number)}}
        lines.append(json.dumps(record, separators=(",", ":")))
    lines.append(lines[0])  # an upsampled copy
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    index = ExampleIndex.build(path)
    assert [entry[2] for entry in index.entries] == [0, 1, 2, 3, 4]
    assert index.personas() == {100: 3, 101: 2}
    page = index.read(index.select(101))
    assert [(e.message_id, e.persona_id, e.answer) for e in page] == [(1, 101, "answer 1"), (3, 101, "answer 3")]
    assert [e.message_id for e in index.read(index.select(None, exclude={0, 2}))] == [1, 3, 4]
    parts = split_trained(page[0].rendered())
    assert parts[-1] == ("answer 1<|im_end|>", True) and not any(TRAIN_OPEN in t or TRAIN_CLOSE in t for t, _ in parts)


def test_the_panel_pages_curation_through_real_sqlite(sample):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    workspace, conn = sample
    actions = Actions(workspace, EventBus())
    out = workspace.datasets_dir / "panel"
    prepare_dataset(conn, DatasetConfig(min_messages=50), out)
    index = actions.example_index(out)
    persona = next(iter(index.personas()))
    page = actions.curation_page(index, persona, 0)
    first = page["items"][0]["example"]
    assert page["total"] == index.personas()[persona] and page["items"][0]["mark"] is None
    assert page["items"][0]["parts"][-1][1] is True  # the trained answer is marked for highlighting
    actions.mark_example(first.message_id, first.persona_id, "bad", "a better answer")
    again = actions.curation_page(index, persona, 0)
    assert again["items"][0]["mark"].mark == "bad" and again["items"][0]["mark"].better_answer == "a better answer"
    unreviewed = actions.curation_page(index, persona, 0, unmarked_only=True)
    assert unreviewed["total"] == page["total"] - 1 and unreviewed["items"][0]["example"].message_id != first.message_id
    assert actions.curation_counts() == {"good": 0, "bad": 1, "better": 1}
    actions.mark_example(first.message_id, first.persona_id, None)
    assert actions.curation_counts()["bad"] == 0
