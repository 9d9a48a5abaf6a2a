"""The bridge from Hugging Face's Trainer to the job protocol: progress, eval and checkpoint events, and stop.

A stop request (stdin line, STOP file, or the parent dying) is honoured at the next step boundary: the callback asks
the Trainer to save a checkpoint and end, so a later ``--resume`` continues from exactly that step. With several
processes the ranks agree on it first (``model.distributed.any_rank``): one checkpoint, the same step everywhere. Only
rank 0's link emits; the others' callbacks run the same code and say nothing.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from core.jobs.events import CheckpointSaved, EvalReported, ProgressReported
from model.distributed import any_rank

GIB = 1024 ** 3


def vram() -> tuple[float | None, float | None]:
    """(used, peak) GiB of CUDA memory, or (None, None) on the CPU."""
    if not torch.cuda.is_available():
        return None, None
    return (round(torch.cuda.memory_allocated() / GIB, 2), round(torch.cuda.max_memory_allocated() / GIB, 2))


class EventCallback(TrainerCallback):
    def __init__(self, link, stage: str = "sft") -> None:
        self.link = link
        self.stage = stage
        self.stopped = False
        self._mark: tuple[float, float] | None = None  # (time, tokens) at the previous log

    def on_train_begin(self, args, state, control, **kwargs):
        self._mark = (time.monotonic(), 0.0)

    def on_step_end(self, args, state, control, **kwargs):
        if any_rank(self.link.stop_requested(), args.device):
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "eval_loss" in logs:
            metrics = {key: value for key, value in logs.items() if isinstance(value, (int, float))}
            self.link.emit(EvalReported(step=state.global_step, eval_loss=float(logs["eval_loss"]), metrics=metrics))
            return
        if "loss" not in logs:
            return
        used, peak = vram()
        self.link.emit(ProgressReported(
            step=state.global_step, total=state.max_steps, epoch=_number(logs.get("epoch") or state.epoch),
            loss=_number(logs.get("loss")), learning_rate=_number(logs.get("learning_rate")),
            grad_norm=_number(logs.get("grad_norm")), tokens_per_second=self._tokens_per_second(logs),
            tokens=int(logs["num_tokens"]) if isinstance(logs.get("num_tokens"), (int, float)) else None,
            vram_used=used, vram_peak=peak, message=self.stage))

    def _tokens_per_second(self, logs) -> float | None:
        tokens = logs.get("num_tokens")
        if tokens is None or self._mark is None:
            return None
        now = time.monotonic()
        then, before = self._mark
        self._mark = (now, float(tokens))
        return round((float(tokens) - before) / (now - then), 1) if now > then else None

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.link.emit(CheckpointSaved(step=state.global_step, path=str(path)))


def _number(value) -> float | None:
    try:
        return None if value is None else round(float(value), 6)
    except (TypeError, ValueError):
        return None
