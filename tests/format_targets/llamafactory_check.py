"""Run by tests/test_dataset_formats_targets.py in a throwaway venv that has LLaMA-Factory: loads an exported
``llamafactory/`` folder with LLaMA-Factory's own dataset loader (dataset_info.json, its sharegpt converter, its
SmolLM2 template, ``mask_history``) on the base model's tokenizer, and prints what it made of it as one JSON line.

argv: FOLDER GGUF_PATH CUTOFF_LEN OUTPUT_DIR
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DISABLE_VERSION_CHECK", "1")  # it pins older transformers/trl than the app's; the data path runs
folder, gguf, cutoff, output_dir = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

from transformers import AutoTokenizer  # noqa: E402
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer  # noqa: E402
from llamafactory.hparams import get_train_args  # noqa: E402

tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
result = {}
for stage, names in (("sft", ("persona_train", "persona_val")), ("rm", ("persona_dpo", None))):
    arguments = {"model_name_or_path": str(gguf.parent), "stage": "dpo" if stage == "rm" else "sft", "do_train": True,
                 "dataset": names[0], "dataset_dir": str(folder), "template": "smollm2", "cutoff_len": cutoff,
                 "output_dir": output_dir, "finetuning_type": "lora", "mask_history": stage == "sft",
                 "overwrite_cache": True, "report_to": "none", "use_cpu": True}
    if names[1]:
        arguments["eval_dataset"] = names[1]
    model_args, data_args, training_args, _, _ = get_train_args(arguments)
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage=stage, tokenizer=tokenizer)
    train = module["train_dataset"]
    if stage == "sft":
        rows = []
        for row in train:
            trained = [token for token, label in zip(row["input_ids"], row["labels"]) if label != -100]
            rows.append({"tokens": len(row["input_ids"]), "trained": tokenizer.decode(trained)})
        result["sft"] = {"train": rows, "val": len(module["eval_dataset"])}
    else:
        result["dpo"] = [{"chosen": tokenizer.decode([t for t, label in zip(row["chosen_input_ids"],
                                                                            row["chosen_labels"]) if label != -100]),
                          "rejected": tokenizer.decode([t for t, label in zip(row["rejected_input_ids"],
                                                                              row["rejected_labels"]) if label != -100]),
                          "prompt_tokens": sum(label == -100 for label in row["chosen_labels"])}
                         for row in train]
print("RESULT " + json.dumps(result))
