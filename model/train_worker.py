"""The training worker: ``launcher.py --worker train --run-dir DIR [--resume]``.

Started by the job runner (``core.jobs.runner``) with the run folder prepared by ``launcher.py train`` (config.json
written before launch). Reports through the wire protocol: the phases (loading, dataset, SFT, eval, saving, DPO),
started (with the backend and the plan), progress per step, eval, checkpoint, then the run's summary and finished (or
stopped), or failed with advice. Out-of-memory becomes advice naming the knobs to lower with their current values.
Started as several data-parallel processes (``--gpus N``), each rank runs this same entry point; only rank 0
reports, phases included (``model.distributed``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

from core.jobs import runs
from core.jobs.advice import advice_for
from core.jobs.events import JobFailed, JobFinished, PhaseFinished

OOM_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py --worker train")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run folder (config.json inside)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    return parser.parse_args(argv)


def quiet_libraries() -> None:
    """Progress bars and deprecation chatter would flood the run log; our own events carry the progress."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.utils.checkpoint")
    warnings.filterwarnings("ignore", message="Could not find a config file")  # peft, for GGUF bases: harmless


def preload_unsloth() -> None:
    """Unsloth patches transformers and TRL and must be imported before them, when it is going to be used."""
    import torch
    if torch.cuda.is_available():
        try:
            import unsloth  # noqa: F401
        except Exception:
            pass


def oom_advice(run_dir: Path) -> str:
    training = runs.read_config(run_dir).get("training") or {}
    knobs = []
    batch, accumulation = training.get("per_device_batch_size"), training.get("gradient_accumulation_steps")
    if isinstance(batch, int) and batch > 1:
        knobs.append(f"per_device_batch_size {batch} → {batch // 2} (and gradient_accumulation_steps "
                     f"{accumulation} → {(accumulation or 1) * 2} to keep the effective batch)")
    if isinstance(training.get("max_length"), int) and training["max_length"] > 256:
        knobs.append(f"max_length {training['max_length']} → {training['max_length'] // 2}")
    if training.get("gradient_checkpointing") is False:
        knobs.append("gradient_checkpointing → true")
    if isinstance(training.get("lora_r"), int) and training["lora_r"] > 8:
        knobs.append(f"lora_r {training['lora_r']} → {training['lora_r'] // 2}")
    if training.get("load_in_4bit") is False:
        knobs.append("load_in_4bit → true (GPU)")
    if not knobs:
        return "Out of memory even with the smallest settings: pick a smaller base model."
    return ("Out of memory: lower " + "; ".join(knobs) + " in the [training] table of config.toml, or choose a "
            "smaller --preset. A stopped run keeps its checkpoints: --resume continues after the change.")


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc).lower() for word in OOM_WORDS)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from model import distributed
    link = distributed.worker_link()
    quiet_libraries()
    started = time.monotonic()
    try:
        distributed.use_own_gpu()
        preload_unsloth()
        from model.training_run import train
        result = train(args.run_dir, link, resume=args.resume)
    except Exception as exc:  # every failure ends as one JobFailed with advice
        return report_failure(exc, args.run_dir, link)
    seconds = round(time.monotonic() - started, 1)
    link.emit(PhaseFinished(phase="run", seconds=seconds, details=summary(result)))
    link.emit(JobFinished(status=result["status"], step=result.get("step"), result=result, seconds=seconds))
    distributed.finish()
    return 0


def summary(result: dict) -> dict:
    """The figures of the run's closing line (``core.jobs.log_phases.run_finished``)."""
    keys = ("status", "total_steps", "tokens", "first_loss", "last_loss", "best_eval_loss", "best_eval_step",
            "adapter", "checkpoint")
    dpo = result.get("dpo") or {}
    return {"steps": result.get("step"), **{key: result.get(key) for key in keys},
            "dpo": {key: dpo.get(key) for key in ("status", "steps", "first_loss", "last_loss")} if dpo else None}


def report_failure(exc: Exception, run_dir: Path, link) -> int:
    lines = traceback.format_exception(exc)
    text = "".join(lines)
    sys.stderr.write(text)
    sys.stderr.flush()
    last_lines = tuple(line for chunk in lines[-6:] for line in chunk.rstrip().splitlines())[-20:]
    message = " ".join(str(exc).split())[:300] or type(exc).__name__
    if type(exc).__name__ == "WorkerError":
        link.emit(JobFailed(message=exc.message, advice=exc.advice, last_lines=last_lines, exit_code=1))
    elif is_oom(exc):
        link.emit(JobFailed(message=f"out of memory: {message}", advice=oom_advice(run_dir), last_lines=last_lines,
                            exit_code=1))
    else:
        link.emit(JobFailed(message=f"{type(exc).__name__}: {message}", advice=advice_for(list(last_lines), 1),
                            last_lines=last_lines, exit_code=1))
    return 1
