"""Rendering examples with the ChatML template, marking the tokens that are trained.

Training computes the loss only on the final assistant message (its text and the closing ``<|im_end|>``, so the
model learns to stop); the preview wraps exactly that part in TRAIN_OPEN ... TRAIN_CLOSE.
"""
from __future__ import annotations

import random
from pathlib import Path

import orjson

TRAIN_OPEN, TRAIN_CLOSE = "[TRAIN>>", "<<TRAIN]"
HEADER = ("Examples rendered with the ChatML template. Only the text between {open} and {close} (the final "
          "assistant message and its <|im_end|>) is trained; everything before it is the prompt.\n").format(
    open=TRAIN_OPEN, close=TRAIN_CLOSE)


def render_chatml(messages: list[dict], *, mark_trained: bool = True) -> str:
    parts = []
    last = len(messages) - 1
    for number, message in enumerate(messages):
        opening = f"<|im_start|>{message['role']}\n"
        if mark_trained and number == last and message["role"] == "assistant":
            parts.append(f"{opening}{TRAIN_OPEN}{message['content']}<|im_end|>{TRAIN_CLOSE}")
        else:
            parts.append(f"{opening}{message['content']}<|im_end|>")
    return "\n".join(parts)


def render_record(record: dict, number: int, names: dict[str, str] | None = None) -> str:
    meta = record.get("meta", {})
    persona = meta.get("persona_id", "?")
    label = f"{names[persona]} ({persona})" if names and persona in names else persona
    title = (f"=== example {number} · persona {label} · conversation {meta.get('conversation_id', '?')} · "
             f"{meta.get('timestamp', '')} ===")
    return f"{title}\n{render_chatml(record['messages'])}\n"


def preview_text(records: list[dict], names: dict[str, str] | None = None) -> str:
    body = "\n".join(render_record(record, number, names) for number, record in enumerate(records, 1))
    return HEADER + "\n" + (body or "(no training examples)\n")


def sample_records(path: Path, count: int, seed: int = 0) -> list[dict]:
    """``count`` records of a JSONL file, reservoir-sampled with ``seed`` (one pass, constant memory)."""
    chooser = random.Random(seed)
    chosen: list[bytes] = []
    with open(path, "rb") as handle:
        for seen, line in enumerate(handle):
            if seen < count:
                chosen.append(line)
            else:
                slot = chooser.randint(0, seen)
                if slot < count:
                    chosen[slot] = line
    return [orjson.loads(line) for line in chosen]
