"""The real DiscordChatExporter exports end to end: import → prepare → the files themselves (roles, speaker labels,
meta fields, cap, splits), checked against the raw JSON read independently."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from tests.conftest import run_cli
from tests.test_dataset_support import read_jsonl

USER_TYPES = {"Default", "Reply"}


def raw_messages(shared_data) -> tuple[dict, dict]:
    """message id -> facts, and channel id -> (channel name, guild name), straight from the export files."""
    messages, channels = {}, {}
    for path in sorted(shared_data.rglob("*.json")):
        export = json.loads(path.read_text(encoding="utf-8"))
        channel_id = export["channel"]["id"]
        channels[channel_id] = (export["channel"]["name"], export["guild"]["name"])
        for message in export["messages"]:
            author = message["author"]
            moment = datetime.fromisoformat(message["timestamp"]).astimezone(timezone.utc)
            messages[message["id"]] = {
                "author": author["id"], "label": author.get("nickname") or author["name"], "channel": channel_id,
                "timestamp": moment.isoformat(timespec="microseconds"), "content": message["content"],
                "type": message["type"], "bot": author.get("isBot", False)}
    return messages, channels


def test_real_exports_import_and_prepare(workspace, shared_data):
    code, _, err = run_cli("import", str(shared_data), "--json", workspace=workspace)
    assert code == 0, err
    out = workspace.root / "real"
    code, stdout, err = run_cli("prepare", "--out", str(out), "--min-messages", "5", "--json", workspace=workspace)
    assert code == 0, err
    summary = json.loads(stdout)
    raw, channels = raw_messages(shared_data)
    labels = {facts["label"] for facts in raw.values()}
    personas = {p["id"]: p for p in summary["personas"]}
    lines = json.loads((out / "stats.json").read_text(encoding="utf-8"))["style_profile"]["lines"]
    for persona_id, line in lines.items():  # each persona's automatic profile line ends their system message
        personas[persona_id] = {**personas[persona_id], "style": line}
    written = Counter(facts["author"] for facts in raw.values() if facts["type"] in USER_TYPES and not facts["bot"])
    assert set(personas) == {author for author, count in written.items() if count >= 5}
    splits = {name: read_jsonl(out / f"{name}.jsonl") for name in ("train", "val", "test")}
    assert len(splits["train"]) >= 100 and sum(map(len, splits.values())) == sum(summary["examples"].values())
    for split, examples in splits.items():
        for example in examples:
            check_example(example, raw, channels, labels, personas)
    conversations = {name: {e["meta"]["conversation_id"] for e in examples} for name, examples in splits.items()}
    assert not (conversations["train"] & conversations["val"] or conversations["train"] & conversations["test"]
                or conversations["val"] & conversations["test"])
    shares = Counter(example["meta"]["persona_id"] for example in splits["train"])
    assert max(shares.values()) <= 0.12 * len(splits["train"])
    assert max(shares.values()) == max(p["train"] for p in summary["personas"])
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["files"]["train.jsonl"]["lines"] == len(splits["train"])
    assert stats["filtered"]["system"] >= 6  # ThreadCreated, GuildMemberJoin... in the raw files
    preview = (out / "preview.txt").read_text(encoding="utf-8")
    assert preview.count("<|im_start|>system") >= 3 and "[TRAIN>>" in preview


def check_example(example: dict, raw: dict, channels: dict, labels: set[str], personas: dict) -> None:
    meta, messages = example["meta"], example["messages"]
    assert set(meta) == {"persona_id", "conversation_id", "message_id", "channel_id", "timestamp"}
    target = raw[meta["message_id"]]
    assert target["author"] == meta["persona_id"] and meta["persona_id"] in personas
    assert target["channel"] == meta["channel_id"] and target["timestamp"] == meta["timestamp"]
    assert meta["conversation_id"].startswith(meta["channel_id"] + "-")
    first = raw[meta["conversation_id"].split("-")[1]]
    assert first["channel"] == meta["channel_id"] and first["timestamp"] <= target["timestamp"]
    channel, guild = channels[meta["channel_id"]]
    persona = personas[meta["persona_id"]]
    expected = f'You are {persona["name"]}, chatting in a channel named "{channel}" on a server named "{guild}".'
    if persona.get("style"):
        expected += " " + persona["style"]
    assert messages[0] == {"role": "system", "content": expected}
    assert messages[-1]["role"] == "assistant" and messages[-1]["content"].strip()
    roles = [message["role"] for message in messages[1:-1]]
    assert roles and all(role in ("user", "assistant") for role in roles)
    assert all(a != b for a, b in zip(roles, roles[1:]))  # consecutive speakers of one side are merged
    for message in messages[1:-1]:
        if message["role"] == "user":
            speaker = message["content"].split(": ", 1)[0]
            assert speaker in labels and speaker != persona["name"], message["content"][:80]
    content = target["content"].strip()
    plain = not any(mark in content for mark in ("@", "<", "http", ":")) and not any(c.isdigit() for c in content)
    if content and plain:
        assert content in messages[-1]["content"]
