"""A memory estimate before a training run starts, so that a run that cannot fit is flagged before it loads.

The model's shape comes from its config.json (Hugging Face folder) or its GGUF metadata, read without the ML
stack (this runs in the app process). The estimate is deliberately rough and conservative: weights (4-bit with
bf16 embeddings, or 16/32-bit), the LoRA adapter with its gradients and optimizer state, checkpointed activations
and the loss chunk, plus the CUDA context. Checked against the H100 figures in ../shared/gpu/ANCHORS.md (Qwen2.5-3B
QLoRA r=64, batch 8 x 1024 packed: measured 4.1 GB, estimated 5.0 GB: on the safe side).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from core.jobs.processes import no_window

GIB = 1024 ** 3
CUDA_CONTEXT_GB = 0.5     # the CUDA context and allocator slack, whatever the model
LOSS_CHUNK_TOKENS = 512   # TRL computes the loss over the vocabulary in chunks rather than whole-batch logits
PROBE_WAIT_SECONDS = 0.5     # the most a caller (a UI thread) waits for nvidia-smi; the query goes on behind it
PROBE_TIMEOUT_SECONDS = 10.0  # a first nvidia-smi call without persistence mode can take a few seconds
CLI_PROBE_WAIT_SECONDS = PROBE_TIMEOUT_SECONDS + 1  # the CLI has nothing better to do than wait for the answer


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    tied_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // max(1, self.heads)

    def projection_shapes(self) -> dict[str, tuple[int, int]]:
        kv = self.kv_heads * self.head_dim
        return {"q_proj": (self.hidden, self.hidden), "k_proj": (self.hidden, kv), "v_proj": (self.hidden, kv),
                "o_proj": (self.hidden, self.hidden), "gate_proj": (self.hidden, self.intermediate),
                "up_proj": (self.hidden, self.intermediate), "down_proj": (self.intermediate, self.hidden)}

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def parameters(self) -> int:
        per_layer = sum(a * b for a, b in self.projection_shapes().values())
        return per_layer * self.layers + self.embedding_params


@dataclass(frozen=True)
class VramEstimate:
    total_gb: float
    parts: dict[str, float]
    device: str           # "cuda" or "cpu"
    available_gb: float | None

    @property
    def fits(self) -> bool | None:
        return None if self.available_gb is None else self.total_gb <= self.available_gb

    def warning(self) -> str | None:
        if self.fits is not False:
            return None
        where = "GPU memory" if self.device == "cuda" else "free RAM"
        return (f"this run needs about {self.total_gb:.1f} GB but only {self.available_gb:.1f} GB of {where} is "
                f"available: lower per_device_batch_size or max_length, turn gradient_checkpointing on, or pick a "
                f"smaller preset")


def shape_from_hf_config(config: dict) -> ModelShape:
    config = config.get("text_config", config)
    heads = int(config["num_attention_heads"])
    return ModelShape(hidden=int(config["hidden_size"]), layers=int(config["num_hidden_layers"]),
                      intermediate=int(config["intermediate_size"]), vocab=int(config["vocab_size"]), heads=heads,
                      kv_heads=int(config.get("num_key_value_heads") or heads),
                      tied_embeddings=bool(config.get("tie_word_embeddings", False)))


def shape_from_gguf(path: Path) -> ModelShape:
    from gguf import GGUFReader  # numpy only: fine in the app process
    reader = GGUFReader(str(path))
    fields = reader.fields

    def value(key: str):
        item = fields[key]
        return item.parts[item.data[0]].tolist()[0]

    arch = bytes(fields["general.architecture"].parts[fields["general.architecture"].data[0]]).decode()
    heads = int(value(f"{arch}.attention.head_count"))
    kv_key = f"{arch}.attention.head_count_kv"
    names = {tensor.name for tensor in reader.tensors}
    return ModelShape(hidden=int(value(f"{arch}.embedding_length")), layers=int(value(f"{arch}.block_count")),
                      intermediate=int(value(f"{arch}.feed_forward_length")),
                      vocab=len(fields["tokenizer.ggml.tokens"].data), heads=heads,
                      kv_heads=int(value(kv_key)) if kv_key in fields else heads,
                      tied_embeddings="output.weight" not in names)


def shape_of(source: str, kind: str) -> ModelShape | None:
    """The shape of a base model given as in a run's config ("gguf", "folder"; None for a hub id not yet here)."""
    try:
        if kind == "gguf":
            return shape_from_gguf(Path(source))
        if kind == "folder":
            return shape_from_hf_config(json.loads((Path(source) / "config.json").read_text(encoding="utf-8")))
    except (OSError, KeyError, ValueError, IndexError, ImportError):
        return None
    return None


def estimate(config, shape: ModelShape, device: str, available_gb: float | None = None) -> VramEstimate:
    """Peak memory of a LoRA run of ``config`` (a TrainingConfig) on ``shape``, in GB."""
    cuda = device == "cuda"
    quantized = cuda and config.load_in_4bit
    weight_bytes = 2 if cuda and config.precision != "fp32" else 4
    body = shape.parameters - shape.embedding_params
    weights = body * (0.5625 if quantized else weight_bytes) + shape.embedding_params * weight_bytes
    projections = shape.projection_shapes()
    adapted = min(shape.layers, config.lora_layers) if config.lora_layers else shape.layers
    lora_params = adapted * sum(config.lora_r * (a + b) for name, (a, b) in projections.items()
                                     if name in config.lora_target_modules)
    optimizer_bytes = 2 if cuda and config.optimizer in ("auto", "adamw_8bit") else 8
    adapter = lora_params * (weight_bytes * 2 + optimizer_bytes)  # weights + gradients + optimizer state
    tokens = config.per_device_batch_size * config.max_length
    if config.gradient_checkpointing:
        kept = tokens * shape.hidden * shape.layers * weight_bytes  # one hidden state per layer
        activations = kept + tokens * shape.intermediate * weight_bytes * 2  # plus one layer being recomputed
    else:
        activations = tokens * shape.layers * (shape.hidden * 10 + shape.intermediate * 4) * weight_bytes
    loss = min(tokens, LOSS_CHUNK_TOKENS) * shape.vocab * 4
    parts = {"weights": weights / GIB, "adapter+optimizer": adapter / GIB, "activations": activations / GIB,
             "loss": loss / GIB, "overhead": CUDA_CONTEXT_GB if cuda else 0.3}
    return VramEstimate(total_gb=round(sum(parts.values()), 2), parts={k: round(v, 2) for k, v in parts.items()},
                        device=device, available_gb=available_gb)


class _GpuProbe:
    """One nvidia-smi query on a background thread; its answer is kept for the life of the process."""

    def __init__(self, tool: str) -> None:
        self.tool, self.result, self.count, self.hung = tool, None, None, False
        self.done = threading.Event()
        threading.Thread(target=self._run, name="dps-gpu-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            result = subprocess.run([self.tool, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                    capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS,
                                    **no_window())
            if result.returncode == 0:
                totals = result.stdout.split()  # one line per GPU
                self.result, self.count = round(float(totals[0]) / 1024, 1), len(totals)
        except subprocess.TimeoutExpired:
            self.hung = True
        except (OSError, ValueError, IndexError):
            pass
        finally:
            self.done.set()


_probes: dict[str, _GpuProbe] = {}
_probes_lock = threading.Lock()


def detect_gpu_memory_gb(wait: float | None = PROBE_WAIT_SECONDS) -> float | None:
    """Total memory of the first NVIDIA GPU via nvidia-smi (no torch in the app process); None without one.

    The query runs on a background thread and is asked once per process: a caller (a UI thread) waits at most
    ``wait`` seconds and gets None while the answer is not in yet (a hung driver, a first slow call). A caller with
    nothing else to do (the CLI) passes a longer ``wait``, or None to wait for the query's own timeout."""
    tool = shutil.which("nvidia-smi")
    if not tool:
        return None
    with _probes_lock:
        probe = _probes.get(tool)
        if probe is None or (probe.done.is_set() and probe.hung):  # a hung query is retried on a later call
            probe = _probes[tool] = _GpuProbe(tool)
    probe.done.wait(wait)
    return probe.result if probe.done.is_set() else None


def detect_gpu_count(wait: float | None = PROBE_WAIT_SECONDS) -> int | None:
    """How many NVIDIA GPUs a worker will see (nvidia-smi's count narrowed by CUDA_VISIBLE_DEVICES): 0 without
    nvidia-smi or a GPU, None while the query is not in yet. Same probe and waiting as ``detect_gpu_memory_gb``."""
    import os
    from core.training.processes import visible_gpus
    tool = shutil.which("nvidia-smi")
    if not tool:
        return 0
    detect_gpu_memory_gb(wait)
    probe = _probes.get(tool)
    if probe is None or not probe.done.is_set():
        return None
    return visible_gpus(probe.count or 0, os.environ.get("CUDA_VISIBLE_DEVICES"))


def available_ram_gb() -> float:
    import psutil
    return round(psutil.virtual_memory().available / GIB, 1)


def preset_for_gpu(total_gb: float | None) -> str:
    """The largest preset tier that fits the GPU, or cpu-tiny without one."""
    if total_gb is None:
        return "cpu-tiny"
    for tier in (24, 16, 12, 8):
        if total_gb >= tier * 0.95:  # a "24 GB" card reports a little less
            return f"vram-{tier}gb"
    return "vram-8gb"
