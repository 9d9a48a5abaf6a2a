"""What the evaluation reads: the run's prepared dataset (test split, training targets, persona names).

Only the dataset files are read, never the database: they already exclude opted-out users and are scrubbed, so
nothing the evaluation writes (eval.json, the blind A/B files) can contain text the dataset does not.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, Iterator

SYSTEM_NAME = re.compile(r"^You are (?P<name>.+?), chatting in ")


class EvalDataError(ValueError):
    """The run's dataset is missing or unusable; the message names the file."""


def data_dir_from_config(config: dict[str, Any], run_dir: Path) -> Path:
    """The prepared dataset folder recorded in the run's config snapshot."""
    recorded = config.get("data_dir") or config.get("data") or (config.get("dataset") or {}).get("dir")
    if not recorded:
        raise EvalDataError(f"{run_dir / 'config.json'} names no dataset folder (data_dir)")
    folder = Path(str(recorded)).expanduser()
    if not folder.is_dir():
        raise EvalDataError(f"the run's dataset folder {folder} is gone; prepare it again or restore it")
    return folder


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise EvalDataError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(item, dict) or not isinstance(item.get("messages"), list) or not item["messages"]:
                raise EvalDataError(f"{path}:{number}: not a dataset example (no messages)")
            yield item


def evaluation_split(data_dir: Path) -> tuple[Path, list[dict]]:
    """The test split; the validation split when the test split is empty (tiny servers), and which one it was."""
    for name in ("test.jsonl", "val.jsonl"):
        path = data_dir / name
        if path.exists():
            examples = list(read_jsonl(path))
            if examples:
                return path, examples
    raise EvalDataError(f"no test or validation examples in {data_dir}; prepare a dataset with a test split")


def persona_of(example: dict) -> str:
    return str((example.get("meta") or {}).get("persona_id") or persona_name(example) or "unknown")


def persona_name(example: dict) -> str | None:
    system = next((m["content"] for m in example["messages"] if m.get("role") == "system"), "")
    match = SYSTEM_NAME.match(system)
    return match.group("name") if match else None


def sample_by_persona(examples: list[dict], limit: int, seed: int = 0) -> dict[str, list[dict]]:
    """Up to ``limit`` examples per persona (a seeded sample, so reruns evaluate the same ones)."""
    groups: dict[str, list[dict]] = {}
    for example in examples:
        groups.setdefault(persona_of(example), []).append(example)
    rng = random.Random(seed)
    return {persona: (rng.sample(items, limit) if 0 < limit < len(items) else items)
            for persona, items in sorted(groups.items())}


def training_targets(data_dir: Path) -> Iterator[str]:
    """Every training example's target reply (its final assistant message)."""
    path = data_dir / "train.jsonl"
    if not path.exists():
        return
    for example in read_jsonl(path):
        yield example["messages"][-1].get("content", "")


def split_example(example: dict) -> tuple[list[dict], str]:
    """(prompt messages, real reply): the reply is the final assistant message."""
    messages = example["messages"]
    if messages[-1].get("role") != "assistant":
        raise EvalDataError("a dataset example does not end with the persona's (assistant) reply")
    return messages[:-1], messages[-1]["content"]


def context_excerpt(prompt: list[dict], turns: int = 4) -> list[str]:
    """The last few turns before the reply, as a rater reads them (the persona's own turns labelled "(them)")."""
    lines = []
    for message in prompt[1:][-turns:]:
        lines.append(message["content"] if message["role"] == "user" else f"(them) {message['content']}")
    return lines
