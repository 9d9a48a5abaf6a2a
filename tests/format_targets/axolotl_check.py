"""Run by tests/test_dataset_formats_targets.py in a throwaway venv that has Axolotl: validates an exported
``axolotl/`` folder's sft.yml and dpo.yml with Axolotl's own config validation (as on an Ampere GPU), tokenizes every
row with the strategies those configs name (``chat_template`` with ``message_field_training``,
``chat_template.default`` for DPO) on the base model's tokenizer, and prints what it made of them as one JSON line.

argv: FOLDER GGUF_PATH
"""
import json
import sys
from pathlib import Path

import yaml

folder, gguf = Path(sys.argv[1]), Path(sys.argv[2])

from transformers import AutoTokenizer  # noqa: E402
from axolotl.prompt_strategies import load as load_sft  # noqa: E402
from axolotl.prompt_strategies.dpo import load as load_dpo  # noqa: E402
from axolotl.utils.config import validate_config  # noqa: E402
from axolotl.utils.dict import DictDefault  # noqa: E402

GPU = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "n_node": 1, "compute_capability": "sm_86"}
tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def rows(name):
    with open(folder / name, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def validated(name):
    config = DictDefault(yaml.safe_load((folder / name).read_text(encoding="utf-8")))
    return validate_config(config, capabilities=GPU, env_capabilities={"torch_version": "2.6.0"})


result = {}
sft = validated("sft.yml")
result["sft_config"] = {key: sft[key] for key in ("adapter", "load_in_4bit", "lora_r", "lora_alpha", "sequence_len",
                                                  "micro_batch_size", "learning_rate", "num_epochs", "lr_scheduler",
                                                  "sample_packing", "train_on_inputs", "lora_target_modules")}
for key, split in (("datasets", "train.jsonl"), ("test_datasets", "val.jsonl")):
    dataset = sft[key][0]
    strategy = load_sft(dataset["type"], tokenizer, sft, dataset)
    tokenized = []
    for row in rows(split):
        out = strategy.tokenize_prompt(row)
        trained = [token for token, label in zip(out["input_ids"], out["labels"]) if label != -100]
        tokenized.append({"tokens": len(out["input_ids"]), "trained": tokenizer.decode(trained)})
    result[split] = tokenized
if (folder / "dpo.yml").exists():
    dpo = validated("dpo.yml")
    result["dpo_config"] = {key: dpo[key] for key in ("rl", "rl_beta", "learning_rate", "lora_model_dir")}
    dataset = dpo["datasets"][0]
    transform, _ = load_dpo(dataset["type"], dpo, dataset_idx=0)
    result["dpo.jsonl"] = [transform(row, tokenizer=tokenizer) for row in rows("dpo.jsonl")]
print("RESULT " + json.dumps(result))
