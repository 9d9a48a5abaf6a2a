"""OpenAI fine-tuning files (Together and Fireworks read the same): chat ``messages`` for supervised fine-tuning and
the preference format for DPO, with each line checked against OpenAI's published limits.

``train.jsonl`` and ``val.jsonl`` (the validation file) hold ``{"messages": [...]}``: system, then user/assistant
with the other speakers' ``Name: text`` lines as they are, ending with the persona's reply. ``dpo.jsonl`` holds
``{"input": {"messages": prompt}, "preferred_output": [assistant], "non_preferred_output": [assistant]}``. The test
split stays on this machine (``launcher.py eval`` uses it; the service does not need it). ``report.json`` gives each
file's examples and tokens (``tokens``) and every line that breaks a limit. These files are made to be uploaded: they
are written only after the owner confirms how many people's messages they hold (``core.dataset.leaving``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from core.config.workspace import atomic_write_text
from core.dataset.formats import tokens
from core.dataset.formats.rows import DPO_NAME, pair_parts, plain, read_rows, write_jsonl

MAX_EXAMPLE_TOKENS = 65_536  # gpt-4o, gpt-4o-mini, gpt-4.1: a longer training example is truncated
MIN_EXAMPLES = 10            # a training file with fewer is refused
MAX_FILE_BYTES = 512 << 20   # the largest file the Files API takes for fine-tuning
ROLES = ("system", "user", "assistant")
SFT_FILES = {"train": "train.jsonl", "val": "val.jsonl"}
LISTED_PROBLEMS = 200        # report.json names this many lines; the count covers them all


class Checker:
    """Counts tokens and collects the lines that break a limit, per file. Examples are counted in batches
    (``BATCH`` at a time): one call per example would cost more than the counting itself."""

    BATCH = 1024

    def __init__(self):
        self.method, self.count = tokens.counter()
        self.files: dict[str, dict] = {}
        self.problems: list[str] = []
        self.problem_count = 0
        self.pending: list[tuple[str, int, list[dict]]] = []

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < LISTED_PROBLEMS:
            self.problems.append(text)

    def example(self, name: str, number: int, messages: list[dict], ends_with: str) -> None:
        where = f"{name} line {number}"
        for message in messages:
            if message["role"] not in ROLES or not isinstance(message["content"], str) or not message["content"]:
                self.problem(f"{where}: a message with role {message['role']!r} and no text")
        if not messages or messages[-1]["role"] != ends_with:
            self.problem(f"{where}: the messages must end with a {ends_with} message")
        self.pending.append((name, number, messages))
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Count the pending examples' tokens in one call and check each against the limit."""
        texts = [part for _, _, messages in self.pending for message in messages
                 for part in (message["role"], message["content"])]
        counts = iter(self.count(texts))
        for name, number, messages in self.pending:
            used = sum(next(counts) for _ in range(2 * len(messages)))
            used += tokens.TOKENS_PER_MESSAGE * len(messages) + tokens.REPLY_PRIMING
            summary = self.files.setdefault(name, {"examples": 0, "tokens": 0, "longest": 0})
            summary["examples"] += 1
            summary["tokens"] += used
            summary["longest"] = max(summary["longest"], used)
            if used > MAX_EXAMPLE_TOKENS:
                self.problem(f"{name} line {number}: {used:,} tokens, over the {MAX_EXAMPLE_TOKENS:,} of a training "
                             f"example (OpenAI truncates it)")
        self.pending = []

    def file(self, name: str, written: dict, needed: bool) -> None:
        self.flush()
        lines = written["lines"]
        if needed and lines < MIN_EXAMPLES:
            self.problem(f"{name}: {lines} examples; OpenAI needs at least {MIN_EXAMPLES}")
        if written["bytes"] > MAX_FILE_BYTES:
            self.problem(f"{name}: {written['bytes']:,} bytes, over the {MAX_FILE_BYTES:,} a file may have")


def sft_rows(path: Path, name: str, checker: Checker) -> Iterator[dict]:
    for number, row in enumerate(read_rows(path), 1):
        messages = plain(row["messages"])
        checker.example(name, number, messages, "assistant")
        yield {"messages": messages}


def preference_rows(path: Path, checker: Checker) -> Iterator[dict]:
    name = f"{DPO_NAME}.jsonl"
    for number, row in enumerate(read_rows(path), 1):
        prompt, chosen, rejected = pair_parts(row)
        if not prompt or prompt[-1]["role"] != "user":
            checker.problem(f"{name} line {number}: the input messages must end with a user message")
        longer = max(chosen, rejected, key=lambda message: len(message["content"]))
        checker.example(name, number, [*prompt, longer], "assistant")  # the longer pair is what must fit
        yield {"input": {"messages": prompt}, "preferred_output": [chosen], "non_preferred_output": [rejected]}


def write(set_dir: Path, out: Path, options) -> dict:
    checker = Checker()
    written = {}
    for split, name in SFT_FILES.items():
        written[name] = write_jsonl(out / name, sft_rows(set_dir / f"{split}.jsonl", name, checker))
        checker.file(name, written[name], needed=split == "train" or written[name]["lines"] > 0)
    name = f"{DPO_NAME}.jsonl"
    written[name] = write_jsonl(out / name, preference_rows(set_dir / name, checker))
    checker.file(name, written[name], needed=written[name]["lines"] > 0)
    report = {"tokens": checker.method, "limits": {"example_tokens": MAX_EXAMPLE_TOKENS,
                                                   "min_examples": MIN_EXAMPLES, "file_bytes": MAX_FILE_BYTES},
              "files": checker.files, "problems": checker.problem_count, "problem_lines": checker.problems,
              "people": options.people}
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return {"files": written, "problems": checker.problem_count, "problem_lines": checker.problems[:20],
            "tokens": {name: summary["tokens"] for name, summary in checker.files.items()}}
