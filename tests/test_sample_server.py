"""The fictional sample server in assets/sample_server: reproducible, shaped like a real DCE export, usable end to
end (import → prepare gives examples for every persona), and free of real people's messages."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample_server"
EXPORT = SAMPLE / "export"
MESSAGE_KEYS = {"id", "type", "timestamp", "timestampEdited", "callEndedTimestamp", "isPinned", "content", "author",
                "attachments", "embeds", "stickers", "reactions", "mentions"}
AUTHOR_KEYS = {"id", "name", "discriminator", "nickname", "color", "isBot", "avatarUrl"}


def load_documents(folder: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="module")
def documents():
    return load_documents(EXPORT)


def test_generator_reproduces_the_committed_files(tmp_path):
    out = tmp_path / "export"
    completed = subprocess.run([sys.executable, str(SAMPLE / "generate.py"), "--out", str(out)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    committed = sorted(path.name for path in EXPORT.glob("*.json"))
    assert sorted(path.name for path in out.glob("*.json")) == committed
    for name in committed:
        assert (out / name).read_bytes() == (EXPORT / name).read_bytes(), f"{name} differs from the generator output"


def test_another_seed_gives_another_server(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("sample_server_generate", SAMPLE / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    first = generate.generate(seed=1, messages=300)
    second = generate.generate(seed=2, messages=300)
    assert first != second
    assert generate.generate(seed=1, messages=300) == first


def test_size_and_shape_match_a_dce_export(documents, shared_data):
    assert sum(path.stat().st_size for path in EXPORT.iterdir()) < 10 * 2**20
    real = json.loads(next(shared_data.glob("dcef-example-guild/*general*.json")).read_text(encoding="utf-8"))
    for name, document in documents.items():
        assert set(real) <= set(document), name
        assert document["messageCount"] == len(document["messages"])
        for message in document["messages"]:
            assert MESSAGE_KEYS <= set(message)
            assert AUTHOR_KEYS <= set(message["author"])
            assert (message["type"] == "Reply") == ("reference" in message)


def test_content_is_a_small_server_with_personas_replies_reactions_threads(documents):
    messages = [(name, message) for name, document in documents.items() for message in document["messages"]]
    assert 1900 <= len(messages) <= 2300
    ids = [int(message["id"]) for _, message in messages]
    assert len(set(ids)) == len(ids)
    authors = Counter(message["author"]["nickname"] for _, message in messages if not message["author"]["isBot"])
    personas = [name for name, count in authors.items() if count >= 50]
    assert len(personas) >= 5, authors
    assert any(count < 50 for count in authors.values())  # a few members too quiet to be personas
    assert any(message["author"]["isBot"] for _, message in messages)
    replies = [message for _, message in messages if message["type"] == "Reply"]
    assert len(replies) / len(messages) > 0.15
    assert sum(bool(message["reactions"]) for _, message in messages) / len(messages) > 0.05
    assert {message["type"] for _, message in messages} >= {"Default", "Reply", "GuildMemberJoin", "ThreadCreated"}
    channel_ids = {document["channel"]["id"] for document in documents.values()}
    threads = [document for document in documents.values() if document["channel"]["type"] == "GuildPublicThread"]
    assert len(threads) >= 2
    for thread in threads:
        assert thread["channel"]["categoryId"] in channel_ids  # a thread names its parent channel
    for document in documents.values():  # every reply points back in time within its own channel
        earlier: set[str] = set()
        for message in document["messages"]:
            if message["type"] == "Reply":
                assert message["reference"]["messageId"] in earlier
            earlier.add(message["id"])


def test_no_real_persons_messages(documents, shared_data):
    real_texts = set()
    for path in shared_data.rglob("*.json"):
        for message in json.loads(path.read_text(encoding="utf-8"))["messages"]:
            if len(message["content"]) > 12 and message["type"] in ("Default", "Reply"):
                real_texts.add(message["content"].strip().lower())
    sample_texts = {message["content"].strip().lower() for document in documents.values()
                    for message in document["messages"] if message["type"] in ("Default", "Reply")}
    assert not (real_texts & sample_texts)


def test_imports_and_prepares_into_examples_for_every_persona(workspace):
    from tests.conftest import run_cli
    code, out, err = run_cli("import", str(EXPORT), "--json", workspace=workspace)
    assert code == 0, err
    report = json.loads(out)
    total = sum(len(document["messages"]) for document in load_documents(EXPORT).values())
    assert report["messages_new"] == total and report["skipped"] == 0
    code, out, err = run_cli("prepare", "--out", str(workspace.root / "data"), "--json", workspace=workspace)
    assert code == 0, err
    summary = json.loads(out)
    assert len(summary["personas"]) >= 5
    assert all(persona["train"] > 50 for persona in summary["personas"])
    first = json.loads((workspace.root / "data" / "train.jsonl").open(encoding="utf-8").readline())
    assert 'on a server named "Moonbase Cafe"' in first["messages"][0]["content"]


def test_quiet_members_do_not_collapse_the_balance(workspace):
    """With min_messages 5 the sample server's quiet member Ollie (one training example) becomes a persona: counted in
    the share cap he would cut every other persona to one example; he is relaxed instead, and stats.json says so."""
    from tests.conftest import run_cli
    assert run_cli("import", str(EXPORT), "--json", workspace=workspace)[0] == 0
    out = workspace.root / "data"
    code, text, err = run_cli("prepare", "--min-messages", "5", "--out", str(out), workspace=workspace)
    assert code == 0, err
    assert "Ollie" in text and "left out of the cap" in text  # the human summary carries the warning
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    balance = stats["balance"]
    assert [entry["name"] for entry in balance["relaxed"]] == ["Ollie"] and balance["warnings"]
    names = {persona["id"]: persona["name"] for persona in stats["personas"]}
    written = Counter(json.loads(line)["meta"]["persona_id"]
                      for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines())
    total = sum(written.values())
    assert written[balance["relaxed"][0]["id"]] == balance["relaxed"][0]["train_candidates"]
    others = [count for persona_id, count in written.items() if names[persona_id] != "Ollie"]
    assert len(others) >= 5 and min(others) > 100  # not dragged down to Ollie's size
    assert all(count <= balance["applied_share"] * total + 1e-9 for count in written.values())
