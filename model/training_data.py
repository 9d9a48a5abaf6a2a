"""Reading the prepared dataset for training: train.jsonl, val.jsonl and dpo.jsonl from the ``prepare`` command.

Each line is ``{"messages": [system, user/assistant..., final assistant], "meta": {...}}``. It becomes TRL's
conversational prompt/completion form (prompt = every message but the last, completion = the last), so SFTTrainer
masks the prompt and the loss falls only on the target reply and its end-of-turn token.

Every line must have the prompt builder's shape (``core.prompting.builder``), which strict chat templates (Mistral,
Gemma) require: an optional system message, then roles alternating user/assistant starting with user, ending with
the assistant target (a DPO prompt ends with user). A line that breaks it is named and refused (prepare the dataset
again); only consecutive user messages are joined, one per line, as the builder merges other speakers' turns.
Examples longer than ``max_length`` lose their oldest context *pairs* (a user message and the assistant message
after it), so the context still starts with a user message; the system message, the last user message and the
target always stay. TRL's own truncation would cut the target off the end instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.training_model import WorkerError

ROLES = ("system", "user", "assistant")


@dataclass
class SplitStats:
    read: int = 0
    kept: int = 0
    trimmed: int = 0          # lost context turns to fit max_length
    too_long: int = 0         # system + target alone exceed max_length
    tokens: int = 0           # of the kept examples, after trimming (what the log reports)
    reasons: dict[str, int] = field(default_factory=dict)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise WorkerError(f"{path.name} line {number}: not valid JSON ({exc.msg})",
                                  "prepare the dataset again with `launcher.py prepare`") from None
            if not isinstance(row, dict):
                raise WorkerError(f"{path.name} line {number}: expected a JSON object")
            rows.append(row)
    return rows


def check_messages(messages: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(messages, list) or len(messages) < 2:
        raise WorkerError(f"{where}: 'messages' must be a list of at least two messages")
    for message in messages:
        if not (isinstance(message, dict) and message.get("role") in ROLES and isinstance(message.get("content"), str)):
            raise WorkerError(f"{where}: every message needs a role ({'/'.join(ROLES)}) and text content")
    if messages[-1]["role"] != "assistant":
        raise WorkerError(f"{where}: the last message must be the assistant's reply (the training target)")
    shaped = [{"role": message["role"], "content": message["content"]} for message in messages[:1]]
    for message in messages[1:]:
        if message["role"] == "user" and shaped[-1]["role"] == "user":
            shaped[-1]["content"] += "\n" + message["content"]
        else:
            shaped.append({"role": message["role"], "content": message["content"]})
    check_order([message["role"] for message in shaped], where)
    return shaped


def check_order(roles: list[str], where: str) -> None:
    """Optional system, then user/assistant alternating from user (what strict chat templates accept)."""
    body = roles[1:] if roles[0] == "system" else roles
    for number, role in enumerate(body):
        if role != ("user" if number % 2 == 0 else "assistant"):
            raise WorkerError(f"{where}: after the system message, roles must alternate user/assistant starting "
                              f"with user (message {number + 1 + (len(roles) - len(body))} is {role})",
                              "prepare the dataset again with `launcher.py prepare`")


def token_count(tokenizer, messages: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def fit(tokenizer, messages: list[dict[str, str]], max_length: int) -> tuple[list[dict[str, str]] | None, bool]:
    """``messages`` with the oldest user+assistant context pairs dropped until they fit; (None, _) when even the
    system message, the last user message and the target won't."""
    fitted, trimmed, _tokens = fit_counted(tokenizer, messages, max_length)
    return fitted, trimmed


def fit_counted(tokenizer, messages: list[dict[str, str]], max_length: int):
    """As ``fit``, with the fitted example's token count: (messages or None, trimmed, tokens)."""
    trimmed = False
    first_context = 1 if messages[0]["role"] == "system" else 0
    tokens = token_count(tokenizer, messages)
    while tokens > max_length:
        if len(messages) - first_context <= 2:
            return None, trimmed, 0
        messages = messages[:first_context] + messages[first_context + 2:]
        trimmed = True
        tokens = token_count(tokenizer, messages)
    return messages, trimmed, tokens


def load_split(data_dir: Path, name: str, tokenizer, max_length: int, limit: int = 0):
    """The split as a ``datasets.Dataset`` of prompt/completion rows, with its stats; None when the file is absent."""
    from datasets import Dataset
    path = data_dir / f"{name}.jsonl"
    if not path.exists():
        return None, SplitStats()
    stats, rows = SplitStats(), []
    for number, row in enumerate(read_jsonl(path), 1):
        if limit and stats.kept >= limit:
            break
        stats.read += 1
        messages = check_messages(row.get("messages"), f"{path.name} line {number}")
        messages, trimmed, tokens = fit_counted(tokenizer, messages, max_length)
        if messages is None:
            stats.too_long += 1
            continue
        stats.trimmed += trimmed
        stats.kept += 1
        stats.tokens += tokens
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return (Dataset.from_list(rows) if rows else None), stats


def load_training_data(data_dir: Path, tokenizer, max_length: int, max_eval: int):
    if not data_dir.is_dir():
        raise WorkerError(f"the dataset folder {data_dir} does not exist", "run `launcher.py prepare` first")
    train, train_stats = load_split(data_dir, "train", tokenizer, max_length)
    if train is None:
        raise WorkerError(f"no usable training examples in {data_dir / 'train.jsonl'} "
                          f"({train_stats.too_long} longer than max_length={max_length})",
                          "run `launcher.py prepare`, or raise max_length")
    val, val_stats = load_split(data_dir, "val", tokenizer, max_length, limit=max_eval)
    return train, val, {"train": train_stats.__dict__, "val": val_stats.__dict__}


def load_preferences(data_dir: Path, tokenizer, max_length: int):
    """dpo.jsonl as TRL's conversational preference rows; None when the file is absent or empty."""
    from datasets import Dataset
    path = data_dir / "dpo.jsonl"
    if not path.exists():
        return None
    rows = []
    for number, row in enumerate(read_jsonl(path), 1):
        where = f"{path.name} line {number}"
        prompt = row.get("prompt") if isinstance(row.get("prompt"), list) else []
        chosen = check_messages(prompt + (row.get("chosen") or []), where)[-1]
        rejected = check_messages(prompt + (row.get("rejected") or []), where)[-1]
        longer = max((chosen, rejected), key=lambda message: len(message["content"]))
        fitted, _ = fit(tokenizer, check_messages(prompt + [longer], where), max_length)
        if fitted is not None:  # one trimmed prompt for both replies
            rows.append({"prompt": fitted[:-1], "chosen": [chosen], "rejected": [rejected]})
    return Dataset.from_list(rows) if rows else None
