"""LLaMA-Factory: the splits as OpenAI-style ``messages`` (its "sharegpt" formatting with role/content tags) and the
DPO pairs as ranking data, registered in a ``dataset_info.json`` beside them.

LLaMA-Factory's sharegpt converter (``llamafactory.data.converter.SharegptDatasetConverter``) takes an optional
leading system message, then user/assistant alternating from user (our prompt builder's shape); a ranking row is
``{"messages": prompt ending with user, "chosen": {assistant}, "rejected": {assistant}}``. Train with
``dataset: persona_train``, ``eval_dataset: persona_val``, ``dataset_dir:`` this folder, ``template:`` the model's
(``smollm2`` for the default base model), ``cutoff_len:`` the
training max_length, and ``mask_history: true``: like our trainer, it then learns only each example's final reply
(by default LLaMA-Factory trains on every assistant turn of an example, the persona's earlier turns included).
"""
from __future__ import annotations

import json
from pathlib import Path

from core.config.workspace import atomic_write_text
from core.dataset.formats.rows import DPO_NAME, SPLITS, pair_parts, plain, read_rows, write_jsonl

PREFIX = "persona"   # dataset names: persona_train, persona_val, persona_test, persona_dpo
TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
        "system_tag": "system"}


def dataset_info(written: dict[str, dict]) -> dict:
    """The ``dataset_info.json`` entries for the files written (a DPO entry only when there are pairs)."""
    info = {}
    for split in SPLITS:
        info[f"{PREFIX}_{split}"] = {"file_name": f"{split}.jsonl", "formatting": "sharegpt",
                                     "columns": {"messages": "messages"}, "tags": dict(TAGS)}
    if written.get(f"{DPO_NAME}.jsonl", {}).get("lines"):
        info[f"{PREFIX}_{DPO_NAME}"] = {"file_name": f"{DPO_NAME}.jsonl", "formatting": "sharegpt", "ranking": True,
                                        "columns": {"messages": "messages", "chosen": "chosen",
                                                    "rejected": "rejected"},
                                        "tags": dict(TAGS)}
    return info


def write(set_dir: Path, out: Path, options) -> dict:
    written = {}
    for split in SPLITS:
        rows = ({"messages": plain(row["messages"])} for row in read_rows(set_dir / f"{split}.jsonl"))
        written[f"{split}.jsonl"] = write_jsonl(out / f"{split}.jsonl", rows)
    pairs = (dict(zip(("messages", "chosen", "rejected"), pair_parts(row)))
             for row in read_rows(set_dir / f"{DPO_NAME}.jsonl"))
    written[f"{DPO_NAME}.jsonl"] = write_jsonl(out / f"{DPO_NAME}.jsonl", pairs)
    atomic_write_text(out / "dataset_info.json", json.dumps(dataset_info(written), indent=2) + "\n")
    return {"files": written}
