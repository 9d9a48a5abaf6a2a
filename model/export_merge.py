"""Export step 1: the run's LoRA adapter merged into its base model, saved as a plain Hugging Face folder.

The base comes from the run's config snapshot (a GGUF file loaded through transformers' GGUF support, a model folder,
or a hub id already in the local cache). The tokenizer, and with it the chat template, comes from the run's adapter
folder: the exported model must be prompted exactly the way it was trained.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.jobs.runs import ADAPTER_DIR, latest_checkpoint

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class ExportError(RuntimeError):
    """An export step failed; the message says what and where, ``advice`` what to do about it."""

    def __init__(self, message: str, advice: str = ""):
        super().__init__(message)
        self.advice = advice


@dataclass(frozen=True)
class BaseModel:
    source: str          # what the user gave: a path or a hub id
    kind: str            # "gguf", "folder" or "hub"
    folder: str          # what from_pretrained gets: the folder (GGUF: the file's folder) or the hub id
    gguf_file: str | None = None


def base_from_config(config: dict[str, Any]) -> BaseModel:
    """The base model recorded in a run's config.json (``base_model``: a dict with ``source``/``kind``, or a str)."""
    recorded = config.get("base_model")
    if isinstance(recorded, dict):
        source = recorded.get("path") or recorded.get("source") or recorded.get("id")
        kind = recorded.get("kind")
    else:
        source, kind = recorded, None
    if not source:
        raise ExportError("the run's config.json names no base model", "retrain, or check the run folder")
    path = Path(str(source)).expanduser()
    if kind is None:
        kind = "gguf" if path.suffix.lower() == ".gguf" else "folder" if path.is_dir() else "hub"
    if kind == "gguf":
        if not path.is_file():
            raise ExportError(f"the base model {path} is gone", "put the GGUF file back where training found it")
        return BaseModel(str(source), "gguf", str(path.parent), path.name)
    if kind == "folder" and not path.is_dir():
        raise ExportError(f"the base model folder {path} is gone", "put it back where training found it")
    return BaseModel(str(source), kind, str(path) if kind == "folder" else str(source))


def adapter_dir(run_dir: Path) -> tuple[Path, str]:
    """The adapter to merge: the final one, else the newest checkpoint (a stopped run); and which it was."""
    final = run_dir / ADAPTER_DIR
    if any((final / name).exists() for name in ADAPTER_WEIGHTS):
        return final, "final adapter"
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None and any((checkpoint / name).exists() for name in ADAPTER_WEIGHTS):
        return checkpoint, f"checkpoint {checkpoint.name} (the run did not finish)"
    raise ExportError(f"no LoRA adapter in {run_dir} (neither {ADAPTER_DIR}/ nor a checkpoint)",
                      "train the run first, or resume it until it saves a checkpoint")


def load_tokenizer(adapter: Path, base: BaseModel):
    """The tokenizer training saved next to the adapter; the base's when the adapter folder has none."""
    from transformers import AutoTokenizer
    if (adapter / "tokenizer_config.json").exists() or (adapter / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    else:
        tokenizer = AutoTokenizer.from_pretrained(base.folder, gguf_file=base.gguf_file)
    if not tokenizer.chat_template:
        raise ExportError(f"the tokenizer in {adapter} has no chat template",
                          "retrain with a base model that has one (the default SmolLM2 does)")
    return tokenizer


def load_base(base: BaseModel, dtype=None):
    """The base model, in float32 unless told otherwise (merging in float32 on the CPU adds no rounding; export
    never needs a GPU)."""
    import torch
    from transformers import AutoModelForCausalLM
    try:
        return AutoModelForCausalLM.from_pretrained(base.folder, gguf_file=base.gguf_file,
                                                    dtype=dtype or torch.float32, low_cpu_mem_usage=True)
    except OSError as exc:
        raise ExportError(f"cannot load the base model {base.source}: {' '.join(str(exc).split())[:300]}",
                          "training's base must still be available (offline: a local folder or GGUF file)") from None


def merge_and_save(run_dir: Path, config: dict[str, Any], out_dir: Path, dtype: str = "float16") -> dict[str, Any]:
    """Merge the adapter into the base and save model + tokenizer to ``out_dir``; returns what was used."""
    base = base_from_config(config)
    adapter, adapter_note = adapter_dir(run_dir)
    import torch
    from peft import PeftModel
    tokenizer = load_tokenizer(adapter, base)
    model = load_base(base)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    if getattr(merged, "hf_quantizer", None) is not None:
        # A GGUF-loaded model carries a quantization config that save_pretrained refuses to write; the weights are
        # already dequantized, so dropping it is exact.
        merged.hf_quantizer.remove_quantization_config(merged)
    merged = merged.to(getattr(torch, dtype))
    merged.generation_config.eos_token_id = tokenizer.eos_token_id  # stop where training's turns ended
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return {"base_model": base.source, "base_kind": base.kind, "adapter": str(adapter), "adapter_note": adapter_note,
            "dtype": dtype, "chat_template": tokenizer.chat_template, "eos_token": tokenizer.eos_token}
