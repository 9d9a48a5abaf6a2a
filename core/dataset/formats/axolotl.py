"""Axolotl: the splits as a ``chat_template`` dataset and ready QLoRA configs with our hyperparameters.

Files: ``train/val/test.jsonl`` rows ``{"messages": [{"role", "content", "training"}]}``: ``training`` is true only
on the final assistant message, and the config names it (``message_field_training``), so Axolotl, like our trainer,
learns each example's final reply and nothing else (``roles_to_train: [assistant]`` alone would also train the
persona's earlier turns in the context). ``dpo.jsonl`` rows ``{"messages": prompt, "chosen": {...}, "rejected":
{...}}`` for ``rl: dpo`` with ``type: chat_template.default``. ``sft.yml`` and (with pairs) ``dpo.yml`` are the configs:
run ``axolotl train sft.yml`` from this folder, then ``axolotl train dpo.yml`` (it loads the SFT adapter from
``outputs/sft``). Axolotl drops rows longer than ``sequence_len`` (our trainer trims their oldest context instead).
"""
from __future__ import annotations

from pathlib import Path

from core.config.training import TrainingConfig
from core.config.workspace import atomic_write_text
from core.dataset.formats import yaml_text
from core.dataset.formats.rows import DPO_NAME, SPLITS, pair_parts, plain, read_rows, write_jsonl

TRAINING_FIELD = "training"
OPTIMIZERS = {"auto": "adamw_bnb_8bit", "adamw_torch": "adamw_torch", "adamw_8bit": "adamw_bnb_8bit",
              "adafactor": "adafactor"}  # our auto is 8-bit AdamW on CUDA, where Axolotl runs
SFT_OUTPUT, DPO_OUTPUT = "./outputs/sft", "./outputs/dpo"


def marked(messages: list[dict]) -> list[dict]:
    """Our messages with ``training`` true on the final reply only."""
    rows = plain(messages)
    for number, message in enumerate(rows, 1):
        message[TRAINING_FIELD] = number == len(rows)
    return rows


def common(config: TrainingConfig, base_model: str) -> dict:
    """The settings both stages share: model, adapter, batching, precision, bookkeeping."""
    settings = {
        "base_model": base_model,
        "load_in_4bit": config.load_in_4bit,
        "adapter": "qlora" if config.load_in_4bit else "lora",
        "lora_r": config.lora_r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout,
        "lora_target_modules": list(config.lora_target_modules),
        "sequence_len": config.max_length,
        "micro_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "num_epochs": config.num_epochs,
        "optimizer": OPTIMIZERS[config.optimizer],
        "lr_scheduler": "constant" if config.lr_scheduler == "constant_with_warmup" else config.lr_scheduler,
        "weight_decay": config.weight_decay, "max_grad_norm": config.max_grad_norm,
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": "auto" if config.precision in ("auto", "bf16") else False,
        "fp16": config.precision == "fp16",
        "chat_template": "tokenizer_default",
        "attn_implementation": "flash_attention_2",
        "seed": config.seed, "logging_steps": config.logging_steps,
        "save_steps": config.save_steps, "save_total_limit": config.save_total_limit,
    }
    warmup = "warmup_ratio" if config.warmup_steps < 1 else "warmup_steps"
    settings[warmup] = config.warmup_steps if warmup == "warmup_ratio" else int(config.warmup_steps)
    return settings


def sft_config(config: TrainingConfig, base_model: str) -> dict:
    dataset = {"path": "train.jsonl", "ds_type": "json", "split": "train", "type": "chat_template",
               "field_messages": "messages", "message_field_training": TRAINING_FIELD,
               "roles_to_train": ["assistant"]}
    settings = {**common(config, base_model), "learning_rate": config.learning_rate,
                "sample_packing": config.packing, "eval_sample_packing": False, "train_on_inputs": False,
                "datasets": [dataset], "test_datasets": [{**dataset, "path": "val.jsonl"}],
                "output_dir": SFT_OUTPUT}
    if config.max_steps:
        settings["max_steps"] = config.max_steps
    if config.eval_steps:
        settings["eval_steps"] = config.eval_steps
    return settings


def dpo_config(config: TrainingConfig, base_model: str) -> dict:
    dataset = {"path": f"{DPO_NAME}.jsonl", "split": "train", "type": "chat_template.default",
               "field_messages": "messages", "field_chosen": "chosen", "field_rejected": "rejected"}
    settings = {**common(config, base_model), "rl": "dpo", "rl_beta": config.dpo_beta,
                "learning_rate": config.dpo_learning_rate, "lora_model_dir": SFT_OUTPUT, "datasets": [dataset],
                "output_dir": DPO_OUTPUT}
    if config.dpo_max_steps:
        settings["max_steps"] = config.dpo_max_steps
    return settings


COMMENTS = {
    "base_model": "a Hugging Face model id or folder: the model the persona adapter is trained on",
    "sequence_len": "our training max_length; Axolotl drops longer rows (our trainer trims their oldest context)",
    "datasets": "paths are relative: run `axolotl train` from this folder",
    "attn_implementation": "keeps packed examples apart; needs flash-attn (Axolotl's Docker images have it); without "
                           "it use sdpa and sample_packing: false",
}


def write(set_dir: Path, out: Path, options) -> dict:
    written = {}
    for split in SPLITS:
        rows = ({"messages": marked(row["messages"])} for row in read_rows(set_dir / f"{split}.jsonl"))
        written[f"{split}.jsonl"] = write_jsonl(out / f"{split}.jsonl", rows)
    pairs = (dict(zip(("messages", "chosen", "rejected"), pair_parts(row)))
             for row in read_rows(set_dir / f"{DPO_NAME}.jsonl"))
    written[f"{DPO_NAME}.jsonl"] = write_jsonl(out / f"{DPO_NAME}.jsonl", pairs)
    header = "# Axolotl config written by Discord Persona Studio's `prepare --format axolotl`\n"
    atomic_write_text(out / "sft.yml", header + yaml_text.dump(sft_config(options.training, options.base_model),
                                                                COMMENTS))
    configs = ["sft.yml"]
    if written[f"{DPO_NAME}.jsonl"]["lines"] and options.training.dpo:
        atomic_write_text(out / "dpo.yml", header + yaml_text.dump(dpo_config(options.training, options.base_model),
                                                                    COMMENTS))
        configs.append("dpo.yml")
    return {"files": written, "configs": configs}
