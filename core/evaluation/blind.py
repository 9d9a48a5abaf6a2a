"""The blind test a user takes on the Models page: pairs of replies to the same context, which sounds more like them?

Built from a run's ``eval/examples.jsonl`` (written by the evaluation worker): each chosen example becomes a pair,
"real-tuned" (the person's real reply against the tuned model's) or "tuned-base" (the tuned model's against the base
model's), alternating, sides shuffled by a seeded RNG. What a view gets (``BlindPair``) holds the context and the two
texts as A and B and nothing that tells which is which; the key (``PairKey``) stays with the caller and is stored
with each pick in ``eval/blind_picks.jsonl``: example index, pair kind, which source was A and B, the pick ("A",
"B", "cant-tell"), a timestamp, and no message text. The file is rewritten atomically per pick (it is a few KB), so a
crash never leaves half a line; a malformed line is reported as ``BlindFileError`` naming the file and the line.

Score: for "real-tuned", how often the tuned reply was picked over the real one (half the time: indistinguishable);
for "tuned-base", how often the tuned reply beat the base. "Can't tell" is counted apart, not in the share.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.config.workspace import atomic_write_text

EXAMPLES_FILE = "examples.jsonl"
PICKS_FILE = "blind_picks.jsonl"
KINDS = {"real-tuned": ("real", "tuned"), "tuned-base": ("tuned", "base")}
CHOICES = ("A", "B", "cant-tell")
TEST_SIZE = 10  # pairs per sitting: a few minutes of reading


class BlindFileError(ValueError):
    """A line of examples.jsonl or blind_picks.jsonl is unusable; the message is one line naming file and line."""


@dataclass(frozen=True)
class BlindPair:
    """What the dialog shows: no field says which side is real, tuned or base."""
    number: int             # 1-based position in this sitting
    persona: str            # the name of the person the replies are for
    context: tuple[str, ...]
    a: str
    b: str


@dataclass(frozen=True)
class PairKey:
    example: int            # the line index in examples.jsonl
    kind: str               # "real-tuned" or "tuned-base"
    a: str                  # the source shown as A ("real", "tuned" or "base")
    b: str


@dataclass(frozen=True)
class KindScore:
    kind: str
    tuned_picked: int       # picks of the tuned reply
    decided: int            # picks of A or B
    cant_tell: int


def read_examples(path: Path) -> list[dict]:
    """The evaluated examples, in file order; a missing file is an empty list."""
    if not path.is_file():
        return []
    examples = []
    for number, item in _json_lines(path):
        if not isinstance(item.get("tuned"), (str, type(None))) or not isinstance(item.get("real"), str):
            raise BlindFileError(f"{path}:{number}: not an evaluated example (no real or tuned reply)")
        examples.append(item)
    return examples


def _json_lines(path: Path):
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise BlindFileError(f"{path}:{number}: not valid JSON ({exc.args[0].split(':')[0]})") from None
            if not isinstance(item, dict):
                raise BlindFileError(f"{path}:{number}: not a JSON object")
            yield number, item


def build_pairs(examples: list[dict], *, size: int = TEST_SIZE, seed: int = 0,
                answered: set[tuple[int, str]] = frozenset()) -> list[tuple[BlindPair, PairKey]]:
    """Up to ``size`` pairs, spread over the personas (one persona's examples after another's, in a seeded order),
    skipping (example, kind) pairs already ``answered`` and pairs with an empty side (a reply the bot would not
    send gives itself away). Kinds alternate; an example without a base reply is always "real-tuned"."""
    rng = random.Random(seed)
    queues: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        queues.setdefault(str(example.get("persona_id")), []).append(index)
    for queue in queues.values():
        rng.shuffle(queue)
    order = sorted(queues)
    rng.shuffle(order)
    pairs: list[tuple[BlindPair, PairKey]] = []
    while len(pairs) < size and any(queues.values()):
        for persona in order:
            if queues[persona] and len(pairs) < size:
                index = queues[persona].pop()
                pair = _pair(examples[index], index, len(pairs), rng, answered)
                if pair is not None:
                    pairs.append(pair)
    return pairs


def _pair(example: dict, index: int, position: int, rng: random.Random,
          answered) -> tuple[BlindPair, PairKey] | None:
    preferred = ("real-tuned", "tuned-base") if position % 2 == 0 else ("tuned-base", "real-tuned")
    for kind in preferred:
        sources = list(KINDS[kind])
        if (index, kind) in answered or not all(str(example.get(source) or "").strip() for source in sources):
            continue
        rng.shuffle(sources)
        pair = BlindPair(position + 1, str(example.get("persona_name") or "them"),
                         tuple(str(line) for line in example.get("context") or ()),
                         str(example[sources[0]]), str(example[sources[1]]))
        return pair, PairKey(index, kind, sources[0], sources[1])
    return None


def make_pick(key: PairKey, choice: str, when: datetime | None = None) -> dict:
    """The stored line of one pick (no message text: the example index points at it)."""
    if choice not in CHOICES:
        raise ValueError(f"a blind-test pick is one of {', '.join(CHOICES)}, not {choice!r}")
    when = when or datetime.now(timezone.utc)
    return {"example": key.example, "kind": key.kind, "A": key.a, "B": key.b, "pick": choice,
            "at": when.isoformat(timespec="seconds")}


def read_picks(path: Path) -> list[dict]:
    """Every stored pick, checked; a missing file has none."""
    if not path.is_file():
        return []
    picks = []
    for number, item in _json_lines(path):
        problem = _pick_problem(item)
        if problem:
            raise BlindFileError(f"{path}:{number}: {problem}; fix or delete that line")
        picks.append(item)
    return picks


def _pick_problem(item: dict) -> str | None:
    if not isinstance(item.get("example"), int) or isinstance(item["example"], bool) or item["example"] < 0:
        return "no example index"
    if item.get("kind") not in KINDS:
        return f"unknown pair kind {item.get('kind')!r}"
    if sorted((item.get("A"), item.get("B")), key=str) != sorted(KINDS[item["kind"]]):
        return f"sides {item.get('A')!r} and {item.get('B')!r} do not fit a {item['kind']} pair"
    if item.get("pick") not in CHOICES:
        return f"pick {item.get('pick')!r} is not one of {', '.join(CHOICES)}"
    if not isinstance(item.get("at"), str):
        return "no timestamp"
    return None


def store_pick(path: Path, pick: dict) -> None:
    """Add one pick: the file is checked (a bad line is reported, not overwritten) and rewritten atomically."""
    read_picks(path)
    problem = _pick_problem(pick)
    if problem:
        raise ValueError(f"not a blind-test pick: {problem}")
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    atomic_write_text(path, text + json.dumps(pick, ensure_ascii=False) + "\n")


def answered_pairs(picks: list[dict]) -> set[tuple[int, str]]:
    return {(pick["example"], pick["kind"]) for pick in picks}


def score(picks: list[dict]) -> dict[str, KindScore]:
    """Per pair kind that has picks: how often the tuned side was chosen, of the decided picks."""
    scores = {}
    for kind in KINDS:
        mine = [pick for pick in picks if pick["kind"] == kind]
        if not mine:
            continue
        decided = [pick for pick in mine if pick["pick"] in ("A", "B")]
        tuned = sum(pick[pick["pick"]] == "tuned" for pick in decided)
        scores[kind] = KindScore(kind, tuned, len(decided), len(mine) - len(decided))
    return scores


def score_line(scores: dict[str, KindScore]) -> str:
    """``"Blind test: tuned picked over real 4 of 10; over base 7 of 10"`` (and how many could not tell)."""
    if not scores:
        return "Blind test: not taken yet"
    parts = []
    for kind, words in (("real-tuned", "over real"), ("tuned-base", "over base")):
        found = scores.get(kind)
        if found is not None:
            parts.append(f"{words} {found.tuned_picked} of {found.decided}")
    line = "Blind test: tuned picked " + "; ".join(parts)
    unsure = sum(found.cant_tell for found in scores.values())
    return line + (f" ({unsure} can't tell)" if unsure else "")
