"""Finding a person's message text in files: the backstop ``forget`` runs over the whole workspace.

The files ``forget`` knows to be built from messages (dataset splits, previews, evaluation and smoke-test outputs)
are deleted whatever they hold, because cleaning and scrubbing change the text on the way in. Every other file
(logs, metrics, state, configs, stray copies) is searched for the person's text as stored: each line of each message
with at least ``MIN_FRAGMENT_CHARS`` characters is a fragment, found raw or as JSON writes it (escaped, with or
without ``ensure_ascii``); a line that shares ``RUN_WORDS`` consecutive words with a fragment counts too (a log that
cut the message short). A shorter message ("ok", "lol") is not searched for: it cannot identify anyone and would
match everywhere.

Speed: one regular expression with thousands of alternatives takes minutes per megabyte, so the search indexes
every run of up to ``GRAM_WORDS`` consecutive words of each fragment and walks each line's words once; only a line
sharing a run of words with a fragment is then checked for the exact fragment.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

MIN_FRAGMENT_CHARS = 16
WINDOW_BYTES = 64 << 10   # a long line is searched this much at a time
OVERLAP_BYTES = 32 << 10  # carried into the next window: a 4,000-character message, JSON-escaped, fits
GRAM_WORDS = 4   # runs of this many words find the candidate fragments of a line
RUN_WORDS = 8    # a line sharing this many consecutive words with a message holds part of it (a cut log line)
WORD = re.compile(r"\w+")
ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")  # JSON escapes split words the same way in fragments and lines


def words_of(text: str) -> list[str]:
    return WORD.findall(ESCAPE.sub(" ", text))


def fragments(texts: Iterable[str]) -> set[str]:
    """The searchable lines of the messages (stripped, at least MIN_FRAGMENT_CHARS long)."""
    found = set()
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= MIN_FRAGMENT_CHARS:
                found.add(line)
    return found


def encodings(fragment: str) -> set[str]:
    """The fragment as it can appear in a file: raw, and escaped the two ways ``json.dumps`` writes it."""
    return {fragment, json.dumps(fragment, ensure_ascii=False)[1:-1], json.dumps(fragment)[1:-1]}


class TextFinder:
    """Does a file hold any of these texts? Built once per ``forget`` from the person's messages."""

    def __init__(self, texts: Iterable[str]):
        self.index: dict[tuple[str, ...], set[int]] = {}
        self.variants: list[set[str]] = []
        self.sizes: set[int] = set()
        self.runs: set[tuple[str, ...]] = set()
        for fragment in sorted(fragments(texts)):
            variants = encodings(fragment)
            grams = set()
            for variant in variants:
                words = words_of(variant)
                size = min(GRAM_WORDS, len(words))
                grams.update((size, tuple(words[start:start + size])) for start in range(len(words) - size + 1)
                             if size)
                self.runs.update(tuple(words[start:start + RUN_WORDS]) for start in range(len(words) - RUN_WORDS + 1))
            if not grams:  # no word characters (a row of emoji): it names no one, and matches nothing sensibly
                continue
            number = len(self.variants)
            self.variants.append(variants)
            for size, gram in grams:
                self.sizes.add(size)
                self.index.setdefault(gram, set()).add(number)

    def __bool__(self) -> bool:
        return bool(self.variants)

    def found_in_line(self, line: str) -> bool:
        candidates: set[int] = set()
        words = words_of(line)
        if self.runs and any(tuple(words[start:start + RUN_WORDS]) in self.runs
                             for start in range(len(words) - RUN_WORDS + 1)):
            return True
        for size in self.sizes:
            for start in range(len(words) - size + 1):
                hits = self.index.get(tuple(words[start:start + size]))
                if hits:
                    candidates.update(hits)
        return any(variant in line for number in candidates for variant in self.variants[number])

    def found_in(self, path: Path) -> bool:
        """Whether the file holds any of the texts. Read line by line, a long line (a binary file: a LanceDB data
        file has hardly any newlines) in windows of ``WINDOW_BYTES`` that overlap by ``OVERLAP_BYTES``, so memory
        stays small and no single regular-expression call holds the GIL for long: a bot running this forget in a
        thread keeps its event loop (a 20 MB "line" held it for 1.7 s)."""
        if not self.variants:
            return False
        with path.open("rb") as handle:
            carry = b""
            while True:
                piece = handle.readline(WINDOW_BYTES)
                if not piece:
                    return False
                if self.found_in_line((carry + piece).decode("utf-8", errors="replace")):
                    return True
                carry = b"" if piece.endswith(b"\n") else piece[-OVERLAP_BYTES:]
