"""What the training worker tells about its run, gathered as plain dicts for the phase events' ``details``: the
backend and why, the base model and where it came from, the parameters that train, the dataset's tokens and packing,
the plan (effective batch over every data-parallel process, steps, epochs, the phases after SFT), and the figures of
the closing summary. The words are ``core.jobs.log_phases``'s; this module only measures.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.config.training import TrainingConfig


def backend_reason(config: TrainingConfig, device: str, backend: str) -> str:
    """Why this backend, in a few words."""
    if config.backend == backend and config.backend != "auto":
        return f'backend = "{backend}" in the config'
    if backend == "unsloth":
        return "a CUDA GPU and Unsloth installed"
    return "no CUDA GPU: Unsloth needs one" if device == "cpu" else "Unsloth is not installed"


def weights_word(config: TrainingConfig, backend: str, device: str, precision: str, gguf_file: str | None) -> str:
    if device == "cpu":
        return "fp32"  # autocast does the half-precision math; the weights stay fp32 (model.training_model)
    if config.load_in_4bit and not gguf_file:
        return "4-bit NF4 (QLoRA)" if backend == "peft" else "4-bit (QLoRA)"
    return precision


def precision_word(config: TrainingConfig, device: str, precision: str) -> str:
    if config.precision != "auto":
        return f"{precision} (set in the config)"
    if device == "cpu":
        return "bf16 autocast (native bf16 on this CPU)" if precision == "bf16" else "fp32 (no native bf16 on this CPU)"
    return precision


def base_size(folder: str, gguf_file: str | None) -> int | None:
    """Bytes of the weights on disk: the GGUF file, or a folder's safetensors/bin files."""
    if gguf_file:
        path = Path(folder) / gguf_file
        return path.stat().st_size if path.is_file() else None
    files = [path for pattern in ("*.safetensors", "*.bin") for path in Path(folder).glob(pattern)]
    return sum(path.stat().st_size for path in files) or None


def load_details(base: dict[str, str], folder: str, gguf_file: str | None, config: TrainingConfig, backend: str,
                 device: str, precision: str) -> dict[str, Any]:
    gpu = None
    if device == "cuda":
        import torch
        gpu = torch.cuda.get_device_name(0)
    return {"model": Path(gguf_file or base["source"]).name, "source": base["source"], "kind": base["kind"],
            "bytes": base_size(folder, gguf_file), "backend": backend, "why": backend_reason(config, device, backend),
            "device": device, "gpu": gpu, "precision": precision_word(config, device, precision),
            "weights": weights_word(config, backend, device, precision, gguf_file)}


def model_details(model, config: TrainingConfig) -> dict[str, Any]:
    """The model's size and what of it trains (the LoRA adapter)."""
    counts = getattr(model, "get_nb_trainable_parameters", None)
    if counts is not None:
        trainable, total = counts()
    else:
        total = sum(parameter.numel() for parameter in model.parameters())
        trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    return {"parameters": int(total), "trainable": int(trainable),
            "layers": getattr(getattr(model, "config", None), "num_hidden_layers", None), "lora_r": config.lora_r,
            "lora_alpha": config.lora_alpha, "lora_layers": config.lora_layers,
            "targets": list(config.lora_target_modules)}


def packed_counts(dataset) -> dict[str, int | None]:
    """Rows, tokens and target tokens of the trainer's (tokenized, maybe packed) dataset, counted in Arrow so a big
    dataset never becomes Python lists."""
    try:
        import pyarrow.compute as compute
        table = dataset.data
        rows = len(dataset)
        tokens = int(compute.sum(compute.list_value_length(table.column("input_ids"))).as_py() or 0)
        targets = None
        if "labels" in table.column_names:  # the tokens the loss falls on (-100 elsewhere)
            labels = compute.list_flatten(table.column("labels"))
            targets = len(labels) - int(compute.sum(compute.equal(labels, -100).cast("int64")).as_py() or 0)
        return {"rows": rows, "tokens": tokens, "target_tokens": targets}
    except Exception:  # noqa: BLE001 - a figure for the log, never a reason to fail the run
        return {"rows": len(dataset) if hasattr(dataset, "__len__") else None, "tokens": None, "target_tokens": None}


def data_details(stats: dict[str, Any], trainer, config: TrainingConfig, data_dir: Path) -> dict[str, Any]:
    packed = packed_counts(trainer.train_dataset)
    train = dict(stats.get("train") or {})
    return {"dir": str(data_dir), "train": train, "val": stats.get("val") or {}, "max_length": config.max_length,
            "packing": config.packing, "rows": packed["rows"], "row_tokens": packed["tokens"],
            "target_tokens": packed["target_tokens"]}


def count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        return sum(1 for line in lines if line.strip())


def effective_batch(config: TrainingConfig, processes: int = 1) -> int:
    """Rows per optimizer step over all data-parallel processes."""
    return config.per_device_batch_size * config.gradient_accumulation_steps * max(1, processes)


def planned_dpo_steps(config: TrainingConfig, data_dir: Path, processes: int = 1) -> int:
    """The DPO pass's steps as planned before it loads its pairs (pairs that cannot fit are dropped later)."""
    pairs = count_lines(data_dir / "dpo.jsonl") if config.dpo else 0
    if not pairs:
        return 0
    effective = effective_batch(config, processes)
    epoch = max(1, math.ceil(pairs / effective))
    return config.dpo_max_steps or epoch  # max_steps overrides the epoch, as in the Trainer


def plan_details(config: TrainingConfig, total: int, rows: int | None, eval_examples: int,
                 dpo_steps: int, processes: int = 1) -> dict[str, Any]:
    effective = effective_batch(config, processes)
    return {"effective_batch": effective, "per_device_batch": config.per_device_batch_size, "processes": processes,
            "accumulation": config.gradient_accumulation_steps,
            "epochs": round(total * effective / rows, 4) if rows else None,
            "learning_rate": config.learning_rate, "scheduler": config.lr_scheduler,
            "save_steps": config.save_steps, "save_total_limit": config.save_total_limit,
            "eval_steps": config.eval_steps, "eval_examples": eval_examples, "dpo_steps": dpo_steps,
            "phases": [["sft", total]] + ([["dpo", dpo_steps]] if dpo_steps else [])}


def losses(history: list[dict[str, Any]]) -> dict[str, float | None]:
    values = [float(entry["loss"]) for entry in history if isinstance(entry.get("loss"), (int, float))]
    if not values:
        return {"first_loss": None, "last_loss": None}
    return {"first_loss": round(values[0], 6), "last_loss": round(values[-1], 6)}


def trained_tokens(history: list[dict[str, Any]]) -> int | None:
    """Tokens over the whole run: TRL counts from 0 in each process, so a resumed run's count restarts; each
    stretch's last figure is added up."""
    total, previous = 0, 0
    counts = [int(entry["num_tokens"]) for entry in history if isinstance(entry.get("num_tokens"), (int, float))
              and "loss" in entry]
    if not counts:
        return None
    for value in counts:
        if value < previous:
            total += previous
        previous = value
    return total + previous


def best_eval(history: list[dict[str, Any]]) -> dict[str, Any]:
    evals = [(float(entry["eval_loss"]), entry.get("step")) for entry in history
             if isinstance(entry.get("eval_loss"), (int, float))]
    if not evals:
        return {"best_eval_loss": None, "best_eval_step": None}
    loss, step = min(evals, key=lambda pair: pair[0])
    return {"best_eval_loss": round(loss, 6), "best_eval_step": step}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
