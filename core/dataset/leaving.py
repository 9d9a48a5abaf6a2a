"""Whose messages leave this machine when a prepared dataset is uploaded (a cloud GPU, a hosted fine-tuning
service): the count and the one sentence every upload asks the owner to confirm.

``people_leaving`` reads the dataset files that would be sent and counts the distinct people whose messages are in
them: every persona (``meta.persona_id`` of an example, ``prompt`` or ``messages`` alike) and every other speaker of
their conversations, whose turns reach the prompt as ``Name: text`` lines in user messages
(``core.prompting.builder.render_turns``). Context speakers are known only by name in these files, so the count
errs on the high side, never the low one: every user line that starts with a name-like label counts as a speaker,
and a line of someone's message that itself reads like ``word: text`` may count one person too many. Two different
people with the same display name count once. Opted-out and forgotten people are absent already: ``prepare`` leaves
them out, and a dataset built before an opt-out is stale and refused before anything is uploaded.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

LEAVING_FILES = ("train.jsonl", "val.jsonl", "dpo.jsonl")  # what training reads; test.jsonl stays for evaluation
LABEL_LIMIT = 100  # a Discord display name is at most 32 characters; quoted names are cut at 100 (prompting)
LABEL = re.compile(r"^([^\n:]{1,%d}): " % LABEL_LIMIT)
PERSONA_LINE = re.compile(r"^You are (.+?), chatting in a channel named ")


@dataclass(frozen=True)
class Leaving:
    """Who is in the files: persona ids and the names of the other speakers (persona names left out)."""
    personas: frozenset[str]
    others: frozenset[str]

    @property
    def people(self) -> int:
        return len(self.personas) + len(self.others)


def leaving_files(data_dir: Path, names: Iterable[str] = LEAVING_FILES) -> list[Path]:
    """The dataset files that an upload sends, in a fixed order (the ones that exist)."""
    return [Path(data_dir) / name for name in names if (Path(data_dir) / name).is_file()]


def who_is_leaving(data_dir: Path, names: Iterable[str] = LEAVING_FILES) -> Leaving:
    personas: set[str] = set()
    persona_names: set[str] = set()
    speakers: set[str] = set()
    for path in leaving_files(data_dir, names):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    example = json.loads(line)
                except ValueError:
                    continue
                if isinstance(example, dict):
                    read_example(example, personas, persona_names, speakers)
    return Leaving(frozenset(personas), frozenset(speakers - persona_names))


def read_example(example: dict, personas: set[str], persona_names: set[str], speakers: set[str]) -> None:
    meta = example.get("meta") if isinstance(example.get("meta"), dict) else {}
    if meta.get("persona_id") is not None:
        personas.add(str(meta["persona_id"]))
    messages = example.get("messages") or example.get("prompt") or []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        if message.get("role") == "system":
            found = PERSONA_LINE.match(message["content"])
            if found:
                persona_names.add(found.group(1).strip())
        elif message.get("role") == "user":
            for text in message["content"].split("\n"):
                label = LABEL.match(text)
                if label and label.group(1).strip():
                    speakers.add(label.group(1).strip())


def people_leaving(data_dir: Path, names: Iterable[str] = LEAVING_FILES) -> int:
    """How many people's messages are in the files an upload of ``data_dir`` sends (see the module doc)."""
    return who_is_leaving(data_dir, names).people


def confirmation_text(people: int, where: str = "a rented cloud GPU") -> str:
    """The sentence the owner confirms before an upload (the CLI's prompt and the panel's dialog say the same)."""
    whose = "1 person's messages" if people == 1 else f"{people} people's messages"
    return (f"Uploading this dataset sends {whose} to {where}: they leave this machine. People who opted out are "
            f"not in it. Continue?")
