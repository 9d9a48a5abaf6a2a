"""The one training function: SFT with LoRA on the prepared dataset, then an optional DPO stage.

Both backends (``model.training_model``) go through the same TRL SFTTrainer with the same arguments; the backend is
chosen at start and reported in the started event. Resuming restores the newest complete checkpoint (step count,
optimizer, scheduler and RNG state); the app keeps appending the same metrics.jsonl, so the loss curve continues.
Every phase is announced for the log (``core.jobs.log_lines`` words them): loading, the dataset, the plan (in the
started event), SFT, evaluation, saving the adapter, DPO; ``model.training_report`` measures what they tell.
Launched as several processes (``core.training.processes``), every rank runs this same function under DDP; the
Trainer saves checkpoints from rank 0 only, and so does ``save_adapter`` here; only rank 0's link emits.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from core.jobs import runs
from core.jobs.events import JobStarted, PhaseFinished, PhaseStarted
from core.config.training import TrainingConfig, from_snapshot
from model import distributed, training_report as report
from model.training_callbacks import EventCallback
from model.training_data import load_preferences, load_training_data
from model.training_model import LoadedModel, WorkerError, load


def read_snapshot(run_dir: Path) -> tuple[dict[str, Any], TrainingConfig]:
    snapshot = runs.read_config(run_dir)
    if not snapshot.get("training") or not snapshot.get("base_model") or not snapshot.get("data_dir"):
        raise WorkerError(f"{run_dir / runs.CONFIG_FILE} is missing or incomplete (training, base_model, data_dir)",
                          "start the run with `launcher.py train`")
    return snapshot, from_snapshot(snapshot["training"])


def common_args(config: TrainingConfig, loaded: LoadedModel) -> dict[str, Any]:
    """Trainer arguments shared by the SFT and DPO stages."""
    return {
        "per_device_train_batch_size": config.per_device_batch_size,
        "per_device_eval_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_grad_norm": config.max_grad_norm, "seed": config.seed, "logging_steps": config.logging_steps,
        "bf16": loaded.precision == "bf16", "fp16": loaded.precision == "fp16", "use_cpu": loaded.device == "cpu",
        "optim": optimizer(config, loaded), "report_to": "none", "disable_tqdm": True, "dataloader_num_workers": 0,
        # Unsloth patches in its own checkpointing; for PEFT the Trainer turns it on (non-reentrant works with LoRA)
        "gradient_checkpointing": config.gradient_checkpointing and loaded.backend != "unsloth",
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "max_length": config.max_length,
        # DDP (several processes): every LoRA weight gets a gradient each step, so skip the per-step search for
        # unused ones (the Trainer would do it for a PEFT model); ignored in one process
        "ddp_find_unused_parameters": False,
    }


def optimizer(config: TrainingConfig, loaded: LoadedModel) -> str:
    if config.optimizer != "auto":
        return config.optimizer
    if loaded.device == "cuda":
        try:
            import bitsandbytes  # noqa: F401
            return "adamw_8bit"
        except ImportError:
            pass
    return "adamw_torch"


def sft_args(config: TrainingConfig, loaded: LoadedModel, run_dir: Path, has_eval: bool):
    from trl import SFTConfig
    periodic_eval = has_eval and config.eval_steps > 0
    return SFTConfig(
        output_dir=str(run_dir / runs.CHECKPOINTS_DIR), learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_steps, weight_decay=config.weight_decay,
        num_train_epochs=config.num_epochs, max_steps=config.max_steps or -1,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        eval_strategy="steps" if periodic_eval else "no", eval_steps=config.eval_steps if periodic_eval else None,
        packing=config.packing, packing_strategy="bfd", completion_only_loss=True,
        **common_args(config, loaded))


def planned_steps(config: TrainingConfig, trainer) -> int:
    if config.max_steps:
        return config.max_steps
    batches = len(trainer.get_train_dataloader())
    return max(1, math.ceil(batches / config.gradient_accumulation_steps * config.num_epochs))


def train(run_dir: Path, link, *, resume: bool) -> dict[str, Any]:
    """Run (or resume) the run in ``run_dir``; returns the result summary. Raises WorkerError for user errors."""
    from transformers import set_seed
    snapshot, config = read_snapshot(run_dir)
    checkpoint = runs.latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise WorkerError(f"run {run_dir.name} has no checkpoint to resume from", "start a new run instead")
    set_seed(config.seed)
    loaded = load(snapshot["base_model"], config, link.emit)
    trainer, callback, train_set, val_set = build_sft(loaded, config, snapshot, run_dir, link)
    total = planned_steps(config, trainer)
    resumed_from = int(checkpoint.name.split("-")[-1]) if checkpoint else None
    data_dir, processes = Path(snapshot["data_dir"]), distributed.world_size()
    rows = len(trainer.train_dataset) if hasattr(trainer.train_dataset, "__len__") else None
    link.emit(JobStarted(name="train", backend=loaded.backend, device=loaded.device, total_steps=total,
                         resumed_from_step=resumed_from,
                         details={"precision": loaded.precision, "packing": config.packing, "examples": len(train_set),
                                  **report.plan_details(config, total, rows, len(val_set) if val_set else 0,
                                                        report.planned_dpo_steps(config, data_dir, processes),
                                                        processes)}))
    run_sft(trainer, callback, link, total, checkpoint)
    history = trainer.state.log_history
    result = {"step": trainer.state.global_step, "total_steps": total, "backend": loaded.backend,
              "device": loaded.device, "final_loss": last_loss(history), "examples": len(train_set),
              "tokens": report.trained_tokens(history), **report.losses(history)}
    if callback.stopped:
        return {**result, "status": "stopped", "checkpoint": callback.last_checkpoint}
    if val_set is not None:
        result["eval_loss"] = final_eval_loss(trainer, callback)
    result.update(report.best_eval(trainer.state.log_history))
    adapter = save_adapter(loaded, run_dir, link, "sft")
    result.update(status="finished", adapter=str(adapter))
    if config.dpo:
        result["dpo"] = train_dpo(loaded, config, snapshot, run_dir, link)
    return result


def build_sft(loaded: LoadedModel, config: TrainingConfig, snapshot: dict[str, Any], run_dir: Path, link):
    """The dataset read and the SFT trainer built (which tokenizes and packs it): (trainer, callback, train, val)."""
    from trl import SFTTrainer
    data_dir, started = Path(snapshot["data_dir"]), time.monotonic()
    link.emit(PhaseStarted(phase="data", details={"dir": str(data_dir)}))
    train_set, val_set, data_stats = load_training_data(data_dir, loaded.tokenizer, config.max_length,
                                                        config.max_eval_examples)
    callback = EventCallback(link, stage="sft", eval_examples=len(val_set) if val_set is not None else 0)
    trainer = SFTTrainer(model=loaded.model, args=sft_args(config, loaded, run_dir, val_set is not None),
                         train_dataset=train_set, eval_dataset=val_set, processing_class=loaded.tokenizer,
                         callbacks=[callback])
    quiet(trainer)
    link.emit(PhaseFinished(phase="data", seconds=round(time.monotonic() - started, 1),
                            details=report.data_details(data_stats, trainer, config, data_dir)))
    return trainer, callback, train_set, val_set


def run_sft(trainer, callback: EventCallback, link, total: int, checkpoint: Path | None) -> None:
    first = int(checkpoint.name.split("-")[-1]) + 1 if checkpoint else 1
    link.emit(PhaseStarted(phase="sft", total=total, details={"first_step": first,
                                                             "checkpoint": str(checkpoint) if checkpoint else None}))
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    details = {"step": trainer.state.global_step, **report.losses(trainer.state.log_history)}
    if callback.stopped:
        details.update(stopped=True, checkpoint=callback.last_checkpoint)
    link.emit(PhaseFinished(phase="sft", seconds=round(time.monotonic() - started, 1), details=details))


def final_eval_loss(trainer, callback: EventCallback) -> float:
    """The validation loss at the last step: the Trainer's own when it evaluated there (periodic evaluation ends on
    the last step), else one evaluation now."""
    step = trainer.state.global_step
    done = [entry["eval_loss"] for entry in trainer.state.log_history
            if "eval_loss" in entry and entry.get("step") == step]
    if done:
        return round(float(done[-1]), 6)
    callback.announce_eval(step)
    return round(float(trainer.evaluate()["eval_loss"]), 6)


def quiet(trainer) -> None:
    """Without a progress bar the Trainer prints every log dict; our events already carry them."""
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)


def last_loss(history: list[dict[str, Any]]) -> float | None:
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return round(float(losses[-1]), 6) if losses else None


def save_adapter(loaded: LoadedModel, run_dir: Path, link, stage: str) -> Path:
    """The final adapter with the tokenizer files (and so the chat template training used) beside it; written by
    rank 0 alone (every rank holds the same weights)."""
    adapter, started = run_dir / runs.ADAPTER_DIR, time.monotonic()
    if not distributed.is_main():
        return adapter
    link.emit(PhaseStarted(phase="save", details={"stage": stage}))
    loaded.model.save_pretrained(str(adapter), selected_adapters=["default"])
    loaded.tokenizer.save_pretrained(str(adapter))
    link.emit(PhaseFinished(phase="save", seconds=round(time.monotonic() - started, 1),
                            details={"stage": stage, "path": str(adapter), "bytes": report.folder_bytes(adapter)}))
    return adapter


def train_dpo(loaded: LoadedModel, config: TrainingConfig, snapshot: dict[str, Any], run_dir: Path,
              link) -> dict[str, Any]:
    """Preference tuning on dpo.jsonl, starting from (and anchored to) the SFT adapter; skipped without pairs."""
    preferences = load_preferences(Path(snapshot["data_dir"]), loaded.tokenizer, config.max_length)
    if preferences is None:
        link.emit(PhaseFinished(phase="dpo", details={"skipped": "dpo.jsonl has no usable pairs"}))
        return {"status": "skipped", "reason": "no preference pairs"}
    from trl import DPOConfig, DPOTrainer
    callback = EventCallback(link, stage="dpo")
    args = DPOConfig(output_dir=str(run_dir / runs.CHECKPOINTS_DIR / "dpo"), beta=config.dpo_beta,
                     learning_rate=config.dpo_learning_rate, num_train_epochs=1, max_steps=config.dpo_max_steps or -1,
                     save_strategy="no", **common_args(config, loaded))
    trainer = DPOTrainer(model=loaded.model, args=args, train_dataset=preferences,
                         processing_class=loaded.tokenizer, callbacks=[callback])
    quiet(trainer)
    total = config.dpo_max_steps or max(1, math.ceil(len(trainer.get_train_dataloader())
                                                     / config.gradient_accumulation_steps))
    link.emit(PhaseStarted(phase="dpo", total=total, details={"pairs": len(preferences), "beta": config.dpo_beta,
                                                              "learning_rate": config.dpo_learning_rate}))
    started = time.monotonic()
    trainer.train()
    history = trainer.state.log_history
    if callback.stopped:
        link.emit(PhaseFinished(phase="dpo", seconds=round(time.monotonic() - started, 1),
                                details={"stopped": True, "step": trainer.state.global_step}))
        return {"status": "stopped", "pairs": len(preferences), "note": "the adapter is the SFT one"}
    margins = [entry["rewards/margins"] for entry in history if "rewards/margins" in entry]
    summary = {"steps": trainer.state.global_step, **report.losses(history),
               "reward_margin": round(float(margins[-1]), 6) if margins else None}
    link.emit(PhaseFinished(phase="dpo", seconds=round(time.monotonic() - started, 1), details=summary))
    save_adapter(loaded, run_dir, link, "dpo")
    return {"status": "finished", "pairs": len(preferences), "final_loss": last_loss(history), **summary}
