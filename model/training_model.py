"""Choosing the training backend and loading the base model with its LoRA adapter.

Two backends behind one interface (``LoadedModel``): Unsloth QLoRA (4-bit) when CUDA is there and unsloth imports,
else PEFT LoRA for TRL's SFTTrainer (the CPU, or a GPU without unsloth). Base models come as a GGUF file (dequantized
into torch by transformers' GGUF support), a Hugging Face folder, or a hub id (downloaded with progress; offline is a
clear error).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.jobs.events import PhaseFinished, PhaseStarted, ProgressReported
from core.config.training import TrainingConfig
from model.training_report import load_details, model_details

DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]


class WorkerError(Exception):
    """A failure the user can fix: ``message`` says what, ``advice`` what to do."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message, self.advice = message, advice


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    backend: str            # "unsloth" or "peft"
    device: str             # "cuda" or "cpu"
    precision: str          # "bf16", "fp16" or "fp32"
    base_folder: str        # a folder (or hub id) from_pretrained accepts, for DPO and export
    gguf_file: str | None


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def unsloth_available() -> bool:
    try:
        import unsloth  # noqa: F401  (must be imported before transformers to patch it; see train_worker)
    except Exception:  # unsloth raises more than ImportError when CUDA or its kernels are missing
        return False
    return True


def choose_backend(config: TrainingConfig, device: str) -> str:
    if config.backend == "peft":
        return "peft"
    if device == "cuda" and unsloth_available():
        return "unsloth"
    if config.backend == "unsloth":
        raise WorkerError("the unsloth backend needs an NVIDIA GPU and the unsloth package",
                          "install unsloth (pip install unsloth) on a CUDA machine, or set backend = \"auto\"")
    return "peft"


def choose_precision(config: TrainingConfig, device: str) -> str:
    if config.precision != "auto":
        return config.precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # CPU: bf16 autocast only where the CPU computes bf16 natively (AVX512-BF16/AMX); emulated it is slower than fp32
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def locate_base(base: dict[str, str], emit) -> tuple[str, str | None]:
    """(folder or id for from_pretrained, gguf file name or None); downloads a hub model first."""
    source, kind = base["source"], base["kind"]
    if kind == "gguf":
        path = Path(source)
        if not path.is_file():
            raise WorkerError(f"the base model {path} does not exist", "pass an existing .gguf file with --base")
        return str(path.parent), path.name
    if kind == "folder":
        if not (Path(source) / "config.json").exists():
            raise WorkerError(f"the base model folder {source} has no config.json", "pass a Hugging Face model folder")
        return source, None
    return download(source, emit), None


def download(repo_id: str, emit) -> str:
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    class Reporting(tqdm):  # turns the hub's byte counters into progress events, at most one a second
        last = 0.0

        def update(self, n=1):
            result = super().update(n)
            now = time.monotonic()
            if now - Reporting.last > 1.0 and self.unit == "B":
                Reporting.last = now
                emit(ProgressReported(step=0, phase="download", message=f"downloading {repo_id}: "
                                      f"{self.n / 2**20:.0f} of {(self.total or 0) / 2**20:.0f} MB"))
            return result

    emit(ProgressReported(step=0, phase="download", message=f"downloading {repo_id}"))
    try:
        return snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS, tqdm_class=Reporting)
    except Exception as exc:  # offline, unknown id, gated model: all end the same way for the user
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise WorkerError(f"could not download '{repo_id}' from the Hugging Face Hub ({reason})",
                          "check the id and the network, or pass a local model folder or .gguf file with --base "
                          "(the offline default needs no network)") from None


def load(base: dict[str, str], config: TrainingConfig, emit) -> LoadedModel:
    device = pick_device()
    backend = choose_backend(config, device)
    precision = choose_precision(config, device)
    folder, gguf_file = locate_base(base, emit)
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()  # the loading bars would be one endless line in the run log
    started = time.monotonic()
    emit(PhaseStarted(phase="load", details=load_details(base, folder, gguf_file, config, backend, device,
                                                         precision)))
    if backend == "unsloth":
        model, tokenizer = load_unsloth(folder, gguf_file, config, precision)
    else:
        model, tokenizer = load_peft(folder, gguf_file, config, device, precision)
    emit(PhaseFinished(phase="load", seconds=round(time.monotonic() - started, 1),
                       details=model_details(model, config)))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise WorkerError(f"the base model {base['source']} has no chat template",
                          "use an instruct/chat model (the default SmolLM2-135M-Instruct has one)")
    return LoadedModel(model, tokenizer, backend, device, precision, folder, gguf_file)


def lora_kwargs(config: TrainingConfig, layer_count: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"r": config.lora_r, "lora_alpha": config.lora_alpha,
                              "lora_dropout": config.lora_dropout, "target_modules": list(config.lora_target_modules)}
    if 0 < config.lora_layers < layer_count:
        kwargs["layers_to_transform"] = list(range(layer_count - config.lora_layers, layer_count))
    return kwargs


def load_peft(folder: str, gguf_file: str | None, config: TrainingConfig, device: str, precision: str):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    if device == "cuda" and config.load_in_4bit and not gguf_file:
        from transformers import BitsAndBytesConfig
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True)
    # weights stay fp32 on the CPU (autocast does bf16 math); half precision on a GPU
    kwargs["dtype"] = torch.float32 if device == "cpu" else (torch.bfloat16 if precision == "bf16" else torch.float16)
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if gguf_file and getattr(model, "hf_quantizer", None) is not None:
        # the GGUF weights are already dequantized; the marker would only make Trainer refuse to train
        model.hf_quantizer.remove_quantization_config(model)
    if device == "cuda":
        model.to("cuda")
    lora = LoraConfig(task_type="CAUSAL_LM", **lora_kwargs(config, model.config.num_hidden_layers))
    return get_peft_model(model, lora), tokenizer


def load_unsloth(folder: str, gguf_file: str | None, config: TrainingConfig, precision: str):
    from unsloth import FastLanguageModel
    if gguf_file:
        raise WorkerError("the unsloth backend cannot train from a GGUF file",
                          "pass the model's Hugging Face folder or id with --base, or set backend = \"peft\"")
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=folder, max_seq_length=config.max_length, load_in_4bit=config.load_in_4bit,
        dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    model = FastLanguageModel.get_peft_model(
        model, use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False,
        random_state=config.seed, **lora_kwargs(config, model.config.num_hidden_layers))
    return model, tokenizer
