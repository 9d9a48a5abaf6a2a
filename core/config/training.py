"""The training hyperparameters: one typed dataclass with the defaults and why, and presets that override it.

A run's config is built in layers, later ones winning: the defaults here → a preset from ``assets/presets/NAME.toml``
(a hardware tier) → the ``[training]`` table of the workspace's config.toml (the user's own standing choices) →
command-line flags such as ``--max-steps``. The result is validated like every config (unknown keys and wrong types
are errors naming the key and the file) and snapshotted into the run folder before launch.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.config.resources import asset
from core.config.strict import ConfigError, apply_overrides, from_dict

PRESETS_DIR = ("presets",)
PRESET_NAMES = ("cpu-tiny", "cpu-quality", "vram-8gb", "vram-12gb", "vram-16gb", "vram-24gb")
LORA_TARGETS_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainingConfig:
    # -- backend and model loading
    backend: Literal["auto", "unsloth", "peft"] = "auto"  # auto: Unsloth on CUDA when installed (about 2x faster, less
    #                                                       VRAM), else PEFT + TRL, which runs everywhere
    load_in_4bit: bool = True        # QLoRA on a GPU: a 3B model in ~2 GB of weights; ignored on the CPU (no kernels)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 where the GPU has it, fp16 on older
    #                                                              GPUs, fp32 on the CPU (CPU half precision is slow)
    max_length: int = 1024           # tokens per packed row / longest example; Discord contexts rarely need more
    # -- LoRA adapter
    lora_r: int = 16                 # rank: 16 captures a voice; higher mostly memorises with persona-sized data
    lora_alpha: int = 32             # 2 x r keeps the update scale the same when r changes
    lora_dropout: float = 0.0        # 0 lets Unsloth use its fast path; short runs rarely overfit through LoRA alone
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS_ALL))  # all projections: style
    #                                                              lives in the MLPs as much as in attention
    lora_layers: int = 0             # 0: adapt every layer; N: only the top N. The backward pass then stops N layers
    #                                  from the top, which makes CPU training several times faster
    # -- batching
    per_device_batch_size: int = 8   # rows per forward pass; the main VRAM knob after max_length
    gradient_accumulation_steps: int = 2  # effective batch = batch x this, without the memory of a bigger batch
    packing: bool = True             # Discord lines are short: packing several examples per row avoids ~80% padding
    gradient_checkpointing: bool = True  # trades ~30% speed for most of the activation memory
    # -- optimisation
    learning_rate: float = 2e-4      # the usual LoRA rate for GPU batches of 16; full fine-tuning rates (2e-5) barely
    #                                  move an adapter. With the CPU's batch of 2 on SmolLM2-135M, 1e-3 beat 5e-4
    #                                  (tuned attribution 0.55 vs 0.38 of 0.71 real: bench/RESULTS.md, fidelity)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"  # decays smoothly to 0
    warmup_steps: float = 0.03       # a fraction (< 1) of the steps or a count: avoids early spikes on a fresh adapter
    weight_decay: float = 0.0        # LoRA weights start at zero; decay mostly fights the little they learn
    max_grad_norm: float = 1.0       # clips the rare huge gradient from a garbage example
    optimizer: Literal["auto", "adamw_torch", "adamw_8bit", "adafactor"] = "auto"  # auto: 8-bit AdamW on CUDA
    #                                                              (bitsandbytes), plain AdamW elsewhere
    num_epochs: float = 1.0          # one pass: persona data repeats itself a lot already; with the copy guard the
    #                                  bot never repeats a memorised training message anyway (model/copy_guard.py)
    max_steps: int = 0               # when > 0, stops after this many optimizer steps, whatever the epochs say
    seed: int = 1234                 # same data + same seed = same run
    # -- bookkeeping
    logging_steps: int = 1           # a progress event per step: steps are slow enough that this costs nothing
    save_steps: int = 100            # checkpoints for resume; a stop request saves at once whatever this is
    save_total_limit: int = 3        # old checkpoints are deleted beyond this many (each holds optimizer state)
    eval_steps: int = 0              # 0: evaluate on val.jsonl only at the end; N: also every N steps
    max_eval_examples: int = 200     # the validation loss is an estimate; the full set can take longer than training
    # -- preference stage
    dpo: bool = True                 # after SFT, a DPO pass on dpo.jsonl when it has pairs (reacted vs ignored)
    dpo_beta: float = 0.1            # how far DPO may move from the SFT model; 0.1 is TRL's tested default
    dpo_learning_rate: float = 5e-6  # preference tuning needs a much smaller step than SFT
    dpo_max_steps: int = 0           # 0: one epoch over the pairs


class PresetError(ValueError):
    """An unknown preset name or an invalid preset file."""


def preset_path(name: str) -> Path:
    return asset(*PRESETS_DIR, f"{name}.toml")


def available_presets() -> list[str]:
    folder = asset(*PRESETS_DIR)
    return sorted(path.stem for path in folder.glob("*.toml")) if folder.exists() else []


def load_preset(name: str) -> dict[str, Any]:
    """The override table of preset ``name``."""
    path = preset_path(name)
    if not path.exists():
        raise PresetError(f"unknown preset '{name}' (known: {', '.join(available_presets()) or 'none installed'})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from None
    return data


def build_training_config(preset: str | None = None, user: dict[str, Any] | None = None,
                          flags: dict[str, Any] | None = None, *, user_source: str = "config.toml") -> TrainingConfig:
    """Defaults → preset → the user's [training] table → flags, validated at each layer (see module doc)."""
    config = TrainingConfig()
    try:
        if preset:
            config = apply_overrides(config, load_preset(preset), where=str(preset_path(preset)))
        if user:
            config = apply_overrides(config, user, where=f"{user_source} [training]")
        if flags:
            config = apply_overrides(config, {k: v for k, v in flags.items() if v is not None}, where="command line")
    except ConfigError as exc:
        raise PresetError(str(exc)) from None
    validate(config)
    return config


def validate(config: TrainingConfig) -> None:
    """Values that parse but cannot work; the message says which knob."""
    checks = [
        (config.max_length >= 32, "max_length must be at least 32"),
        (config.per_device_batch_size >= 1, "per_device_batch_size must be at least 1"),
        (config.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be at least 1"),
        (config.lora_r >= 1 and config.lora_alpha >= 1, "lora_r and lora_alpha must be at least 1"),
        (0.0 <= config.lora_dropout < 1.0, "lora_dropout must be in [0, 1)"),
        (config.learning_rate > 0, "learning_rate must be positive"),
        (config.max_steps >= 0 and config.save_steps >= 1, "max_steps must be >= 0 and save_steps >= 1"),
        (config.num_epochs > 0 or config.max_steps > 0, "set num_epochs > 0 or max_steps > 0"),
        (bool(config.lora_target_modules), "lora_target_modules must name at least one module"),
        (config.lora_layers >= 0, "lora_layers must be 0 (all layers) or more"),
    ]
    for ok, message in checks:
        if not ok:
            raise PresetError(message)


def to_dict(config: TrainingConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_snapshot(data: dict[str, Any]) -> TrainingConfig:
    """The config recorded in a run's config.json."""
    try:
        return from_dict(TrainingConfig, data, where="run config.json [training]")
    except ConfigError as exc:
        raise PresetError(str(exc)) from None


def resolve_base_model(reference: str | Path) -> dict[str, str]:
    """``{"source", "kind"}`` for what the user gave as the base model: a GGUF file ("gguf"), a Hugging Face model
    folder ("folder"; a folder holding exactly one .gguf counts as that file), or a hub id ("hub")."""
    text = str(reference).strip()
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise PresetError(f"base model {path}: a file must be a .gguf model (or give a model folder)")
        return {"source": str(path.resolve()), "kind": "gguf"}
    if path.is_dir():
        if (path / "config.json").exists():
            return {"source": str(path.resolve()), "kind": "folder"}
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return {"source": str(ggufs[0].resolve()), "kind": "gguf"}
        raise PresetError(f"base model folder {path} has no config.json" +
                          (f" and {len(ggufs)} .gguf files: name one" if ggufs else ""))
    parts = text.split("/")
    if len(parts) == 2 and all(part and not part.startswith(".") for part in parts) and "\\" not in text:
        return {"source": text, "kind": "hub"}
    raise PresetError(f"base model '{text}' is neither a file, a folder nor a Hugging Face id (owner/name)")
