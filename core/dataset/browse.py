"""Paging through a prepared dataset's examples (the Dataset page's curation): an index of byte offsets, then reads.

``ExampleIndex.build`` reads a JSONL output once and keeps, per distinct example, its byte offset, persona id and
stable id (``meta.message_id``; a train example repeated by upsampling is listed once). A page reads only its own
lines, so paging a file of any size costs one scan and then a few seeks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from core.dataset.preview import TRAIN_CLOSE, TRAIN_OPEN, render_chatml

META_PERSONA = b'"meta":{"persona_id":"'  # orjson writes meta last, persona_id first (core.dataset.examples)
MESSAGE_KEY = b'"message_id":"'


@dataclass(frozen=True)
class Example:
    message_id: int
    persona_id: int
    messages: list[dict]
    meta: dict

    @property
    def prompt(self) -> list[dict]:
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        """The trained text: the final assistant message."""
        return self.messages[-1]["content"] if self.messages else ""

    def rendered(self) -> str:
        """ChatML with the trained part between TRAIN_OPEN and TRAIN_CLOSE (as preview.txt)."""
        return render_chatml(self.messages)


def _field(line: bytes, start: int, key: bytes) -> int | None:
    at = line.find(key, start)
    if at < 0:
        return None
    at += len(key)
    end = line.find(b'"', at)
    try:
        return int(line[at:end])
    except ValueError:
        return None


def _ids(line: bytes) -> tuple[int | None, int | None]:
    """(persona id, message id) of one JSONL line: found by the byte pattern orjson writes, else by parsing (a file
    written by another tool, with spaces after the colons)."""
    start = line.rfind(META_PERSONA)
    if start >= 0:
        return _field(line, start, META_PERSONA), _field(line, start, MESSAGE_KEY)
    try:
        meta = orjson.loads(line).get("meta") or {}
        return int(meta["persona_id"]), int(meta["message_id"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None, None


class ExampleIndex:
    def __init__(self, path: Path, entries: list[tuple[int, int, int]]) -> None:
        self.path = path
        self.entries = entries  # (offset, persona id, message id), file order

    @classmethod
    def build(cls, path: Path) -> "ExampleIndex":
        entries, seen, offset = [], set(), 0
        with open(path, "rb", buffering=1 << 20) as lines:
            for line in lines:
                persona, message = _ids(line)
                if persona is not None and message is not None and message not in seen:
                    seen.add(message)
                    entries.append((offset, persona, message))
                offset += len(line)
        return cls(path, entries)

    def personas(self) -> dict[int, int]:
        """persona id -> distinct examples."""
        found: dict[int, int] = {}
        for _offset, persona, _message in self.entries:
            found[persona] = found.get(persona, 0) + 1
        return found

    def select(self, persona_id: int | None = None, exclude: set[int] | None = None) -> list[tuple[int, int, int]]:
        return [entry for entry in self.entries
                if (persona_id is None or entry[1] == persona_id) and (not exclude or entry[2] not in exclude)]

    def read(self, entries: list[tuple[int, int, int]]) -> list[Example]:
        examples = []
        with open(self.path, "rb") as handle:
            for offset, persona, message in entries:
                handle.seek(offset)
                record = orjson.loads(handle.readline())
                examples.append(Example(message, persona, record.get("messages", []), record.get("meta", {})))
        return examples


def split_trained(rendered: str) -> list[tuple[str, bool]]:
    """``rendered`` cut into (text, trained) runs at the TRAIN markers, markers removed (for highlighting)."""
    parts: list[tuple[str, bool]] = []
    rest = rendered
    while rest:
        start = rest.find(TRAIN_OPEN)
        if start < 0:
            parts.append((rest, False))
            break
        end = rest.find(TRAIN_CLOSE, start)
        end = len(rest) if end < 0 else end
        if start:
            parts.append((rest[:start], False))
        parts.append((rest[start + len(TRAIN_OPEN):end], True))
        rest = rest[end + len(TRAIN_CLOSE):]
    return parts
