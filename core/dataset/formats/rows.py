"""Reading a prepared split and writing a converted one: the pieces every export format shares.

Our files (``core.dataset.pipeline``): a split line is ``{"messages": [system, user/assistant..., assistant],
"meta": {...}}``, a DPO line ``{"prompt": [...], "chosen": [assistant], "rejected": [assistant], "meta": {...}}``.
Exports carry the same messages, role for role and text for text; the meta (our ids) stays home.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

SPLITS = ("train", "val", "test")   # core.dataset.splits.SPLITS
DPO_NAME = "dpo"


def read_rows(path: Path) -> Iterator[dict]:
    """The lines of one of our JSONL files as dicts (nothing when the file does not exist)."""
    if not path.is_file():
        return
    with open(path, "rb", buffering=1 << 20) as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def plain(messages: list[dict]) -> list[dict]:
    """Messages with only role and content (the keys every target reads)."""
    return [{"role": message["role"], "content": message["content"]} for message in messages]


def write_jsonl(path: Path, rows: Iterable[dict]) -> dict:
    """Write rows as JSONL; returns {"lines", "bytes", "sha256"} like stats.json's ``files``."""
    lines = size = 0
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb", buffering=1 << 20) as handle:
        for row in rows:
            data = orjson.dumps(row) + b"\n"
            handle.write(data)
            digest.update(data)
            lines += 1
            size += len(data)
    return {"lines": lines, "bytes": size, "sha256": digest.hexdigest()}


def pair_parts(row: dict) -> tuple[list[dict], dict, dict]:
    """(prompt messages, chosen message, rejected message) of one of our DPO lines."""
    return plain(row["prompt"]), plain(row["chosen"])[-1], plain(row["rejected"])[-1]
