"""The bridge from Hugging Face's Trainer to the job protocol: progress, eval and checkpoint events, and stop.

A stop request (stdin line, STOP file, or the parent dying) is honoured at the next step boundary: the callback asks
the Trainer to save a checkpoint and end, so a later ``--resume`` continues from exactly that step. Each logged step
carries its phase ("sft", "dpo"), the learning rate, the gradient norm, tokens per second, the memory in use (VRAM
on a GPU, the process's RSS on the CPU) and, for DPO, the reward margin and accuracy. An evaluation is announced
(PhaseStarted "eval") before it runs and reported with the best loss so far; a checkpoint names the older ones the
Trainer deleted to keep ``save_total_limit``.
With several processes the ranks agree on a stop first (``model.distributed.any_rank``): one checkpoint, the same
step everywhere. Only rank 0's link emits; the others' callbacks run the same code and say nothing.
"""
from __future__ import annotations

import time
from pathlib import Path

import psutil
import torch
from transformers import TrainerCallback

from core.jobs.events import CheckpointSaved, EvalReported, PhaseStarted, ProgressReported
from model.distributed import any_rank

GIB = 1024 ** 3


def vram() -> tuple[float | None, float | None]:
    """(used, peak) GiB of CUDA memory, or (None, None) on the CPU."""
    if not torch.cuda.is_available():
        return None, None
    return (round(torch.cuda.memory_allocated() / GIB, 2), round(torch.cuda.max_memory_allocated() / GIB, 2))


def rss() -> float:
    """GiB resident in this process: what training costs the machine on the CPU."""
    return round(psutil.Process().memory_info().rss / GIB, 2)


def checkpoint_folders(output_dir: str) -> set[str]:
    folder = Path(output_dir)
    return {str(path) for path in folder.glob("checkpoint-*") if path.is_dir()} if folder.is_dir() else set()


class EventCallback(TrainerCallback):
    def __init__(self, link, stage: str = "sft", eval_examples: int = 0) -> None:
        self.link = link
        self.stage = stage
        self.eval_examples = eval_examples
        self.stopped = False
        self.last_checkpoint: str | None = None
        self.best_eval: float | None = None
        self._mark: tuple[float, float] | None = None  # (time, tokens) at the previous log
        self._eval_due = False
        self._evaluating = False
        self._checkpoints: set[str] = set()

    def on_train_begin(self, args, state, control, **kwargs):
        self._mark = (time.monotonic(), 0.0)
        self._checkpoints = checkpoint_folders(args.output_dir)
        evals = [entry["eval_loss"] for entry in state.log_history if "eval_loss" in entry]  # a resumed run's
        self.best_eval = min(evals) if evals else None

    def on_step_end(self, args, state, control, **kwargs):
        if any_rank(self.link.stop_requested(), args.device):
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        self._eval_due = bool(control.should_evaluate)  # the step's log comes first, then the evaluation
        return control

    def announce_eval(self, step: int | None) -> None:
        """PhaseStarted("eval") once per evaluation (also called before the run's final evaluation)."""
        if not self._evaluating:
            self._evaluating, self._eval_due = True, False
            self.link.emit(PhaseStarted(phase="eval", details={"examples": self.eval_examples, "step": step}))

    def on_prediction_step(self, args, state, control, **kwargs):
        self.announce_eval(state.global_step)  # an evaluation on a step without a log line

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "eval_loss" in logs:
            self._evaluating = False
            loss = float(logs["eval_loss"])
            self.best_eval = loss if self.best_eval is None else min(self.best_eval, loss)
            metrics = {key: value for key, value in logs.items() if isinstance(value, (int, float))}
            self.link.emit(EvalReported(step=state.global_step, eval_loss=loss, metrics=metrics,
                                        best_loss=round(self.best_eval, 6), examples=self.eval_examples or None))
            return
        if "loss" not in logs:
            return
        self.link.emit(self.progress(state, logs))
        if self._eval_due:
            self.announce_eval(state.global_step)

    def progress(self, state, logs) -> ProgressReported:
        used, peak = vram()
        return ProgressReported(
            step=state.global_step, total=state.max_steps, epoch=_number(logs.get("epoch") or state.epoch),
            loss=_number(logs.get("loss")), learning_rate=_number(logs.get("learning_rate")),
            grad_norm=_number(logs.get("grad_norm")), tokens_per_second=self._tokens_per_second(logs),
            tokens=int(logs["num_tokens"]) if isinstance(logs.get("num_tokens"), (int, float)) else None,
            vram_used=used, vram_peak=peak, rss=None if used is not None else rss(),
            reward_margin=_number(logs.get("rewards/margins")), reward_accuracy=_number(logs.get("rewards/accuracies")),
            phase=self.stage, message=self.stage)  # message: the stage as runs recorded before ``phase`` kept it

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
        now = checkpoint_folders(args.output_dir)
        pruned = tuple(sorted(self._checkpoints - now, key=_step_of))  # the Trainer rotates before on_save
        self._checkpoints = now
        self.last_checkpoint = str(path)
        self.link.emit(CheckpointSaved(step=state.global_step, path=str(path), pruned=pruned))


def _step_of(path: str) -> int:
    tail = path.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _number(value) -> float | None:
    try:
        return None if value is None else round(float(value), 6)
    except (TypeError, ValueError):
        return None
