"""What leaves the machine when a dataset goes to someone else's computer: how many people's messages, in words.

Shared by every path that sends prepared files away (the hosted fine-tuning export, a cloud GPU): before anything is
written for upload or sent, the owner confirms a sentence naming how many people's messages will leave.

The count is ``stats.json``'s ``people.total``: ``prepare`` collects the Discord id of everyone whose text a written
line holds (each persona, every speaker in a prompt's context, the author of a DPO pair's rejected reply) and counts
them once. A folder inside a dataset (``DATASET/openai``, ``DATASET/personas/ID``) reads the dataset's stats. A
dataset from before that count existed has no ``people``: it counts as unknown (None) and the confirmation says so;
``prepare`` it again for the number.
"""
from __future__ import annotations

import json
from pathlib import Path

STATS_NAME = "stats.json"  # core.dataset.writer.STATS_NAME (not imported: this module stays free of the writer)
SEARCH_UP = 3              # DATASET/personas/ID/openai is three folders below the dataset's stats.json


class NotADataset(ValueError):
    """The folder is not inside a prepared dataset (no stats.json in it or above it)."""


def stats_path(data_dir: Path | str) -> Path:
    folder = Path(data_dir)
    for candidate in [folder, *folder.parents][:SEARCH_UP + 1]:
        if (candidate / STATS_NAME).is_file():
            return candidate / STATS_NAME
    raise NotADataset(f"{folder} is not a prepared dataset (no {STATS_NAME} in it or above it): run "
                      f"`launcher.py prepare` first")


def people_leaving(data_dir: Path | str) -> int | None:
    """How many people's messages the dataset at (or above) ``data_dir`` holds: the personas plus everyone else whose
    turns are in the contexts or rejected replies, each counted once. None for a dataset prepared before the count."""
    stats = json.loads(stats_path(data_dir).read_text(encoding="utf-8"))
    people = stats.get("people")
    if not isinstance(people, dict) or not isinstance(people.get("total"), int):
        return None
    return people["total"]


def confirmation_text(n: int | None, where: str = "a hosted fine-tuning service") -> str:
    """The sentence the owner confirms before files holding people's messages leave the machine."""
    if n is None:
        who = ("the messages of an unknown number of people (this dataset was prepared before the count existed: run "
               "`launcher.py prepare` again for it)")
    else:
        who = f"the messages of {n} {'person' if n == 1 else 'people'}"
    return (f"These files hold {who}: the personas and everyone whose messages appear in their conversations. "
            f"Uploading them to {where} sends that text off this machine, where this app's opt-out and forget can "
            f"no longer delete it. Did the people in them agree to that?")
