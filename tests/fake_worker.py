"""A tiny stand-in for a training worker, for the job runner's tests: it speaks the real wire protocol.

Usage: python tests/fake_worker.py [--steps N] [--step-seconds S] [--ignore-stop] [--fail-at STEP] [--oom-at STEP]
[--ignore-term] [--garbage] [--run-dir DIR] [--start-step N] [--print-requests] [--chatty N] [--phases]
[--eval-every N] [--dpo-steps N] [--linger S]

With ``--phases`` it tells its run as the training worker does: loading and dataset phases, the plan in its started
event, SFT steps with memory, evaluations every ``--eval-every`` steps, a DPO pass of ``--dpo-steps`` steps with a
reward margin, and the closing summary.

It answers a ``ping`` request (``Ping``, registered here) with a ``pong TEXT`` line on stdout.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.jobs import wire  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from core.jobs.events import (CheckpointSaved, EvalReported, JobFailed, JobFinished, JobStarted,  # noqa: E402
                              JobStateChanged, PhaseFinished, PhaseStarted, ProgressReported, Request, StopJob,
                              register_request)

LOAD = {"model": "fake-135M.gguf", "source": "/models/fake-135M.gguf", "kind": "gguf", "bytes": 98_000_000,
        "backend": "peft", "why": "no CUDA GPU: Unsloth needs one", "device": "cpu", "gpu": None,
        "precision": "fp32", "weights": "fp32"}
MODEL = {"parameters": 135_000_000, "trainable": 651_264, "layers": 30, "lora_r": 8, "lora_alpha": 16,
         "lora_layers": 8, "targets": ["q_proj", "v_proj"]}
DATA = {"dir": "/data/sample", "train": {"read": 12, "kept": 12, "trimmed": 1, "too_long": 0, "tokens": 2400},
        "val": {"read": 4, "kept": 4, "trimmed": 0, "too_long": 0, "tokens": 800}, "max_length": 256,
        "packing": True, "rows": 10, "row_tokens": 2400, "target_tokens": 600}


@register_request("ping")
@dataclass(frozen=True)
class Ping(Request):
    text: str = ""


def print_requests() -> None:
    """Lines that look like requests or runner events: the runner must take them for log lines."""
    print(wire.encode_request(StopJob()), flush=True)
    print(wire.MARKER + '{"event": "stop"}', flush=True)
    print(wire.MARKER + '{"event": "kill"}', flush=True)
    print(wire.encode(JobStateChanged(name="fake", state="failed", previous="running")), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    parser.add_argument("--start-step", type=int, default=0)
    parser.add_argument("--ignore-stop", action="store_true")
    parser.add_argument("--fail-at", type=int)
    parser.add_argument("--oom-at", type=int)
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM (POSIX) to test the kill step")
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--print-requests", action="store_true")
    parser.add_argument("--say", default="", help="a line to print on stderr first (e.g. a secret to redact)")
    parser.add_argument("--chatty", type=int, default=0, help="log lines of 200 bytes printed per step")
    parser.add_argument("--phases", action="store_true", help="tell the run as the training worker does")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--dpo-steps", type=int, default=0)
    parser.add_argument("--linger", type=float, default=0.0, help="seconds to wait after the ending event (teardown)")
    args = parser.parse_args(argv)
    if args.phases:
        return phased_run(args)
    wire.link().on_request("ping", lambda request: print(f"pong {request.text}", flush=True))
    if args.ignore_term and hasattr(signal, "SIGTERM") and sys.platform != "win32":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.say:
        print(args.say, file=sys.stderr, flush=True)
    print("fake worker: loading", flush=True)
    wire.emit(ProgressReported(step=0, message="loading the fake model"))  # a phase, not a step
    print("fake worker: a warning on stderr ünïcødé 🎉", file=sys.stderr, flush=True)
    wire.emit(JobStarted(name="fake", backend="fake", device="cpu", total_steps=args.steps,
                         resumed_from_step=args.start_step or None))
    if args.garbage:
        print(wire.MARKER + "{not json", flush=True)
        print(wire.MARKER + '{"event": "no-such-event"}', flush=True)
        print(wire.MARKER + '{"event": "progress", "step": "three"}', flush=True)
        print("half a line then " + wire.encode(ProgressReported(step=0, total=args.steps, message="x")), flush=True)
    for step in range(args.start_step + 1, args.steps + 1):
        time.sleep(args.step_seconds)
        if args.fail_at == step:
            print("Traceback (most recent call last):", file=sys.stderr, flush=True)
            print("ValueError: the fake worker failed on purpose", file=sys.stderr, flush=True)
            return 1
        if args.oom_at == step:
            wire.emit(JobFailed(message="out of memory at step %d" % step, advice="lower per_device_batch_size",
                                last_lines=("torch.OutOfMemoryError: CUDA out of memory",)))
            return 1
        print(f"step {step} done", flush=True)
        for line in range(args.chatty):
            print(f"chatter {step}.{line} " + "x" * 200, flush=True)
        if args.print_requests and step == 1:
            print_requests()
        wire.emit(ProgressReported(step=step, total=args.steps, loss=round(3.0 / step, 4), learning_rate=1e-4))
        if not args.ignore_stop and wire.stop_requested():
            path = str(args.run_dir / "checkpoints" / f"checkpoint-{step}") if args.run_dir else ""
            wire.emit(CheckpointSaved(step=step, path=path))
            wire.emit(JobFinished(status="stopped", step=step))
            return 0
    wire.emit(JobFinished(status="finished", step=args.steps, result={"final_loss": round(3.0 / args.steps, 4)}))
    time.sleep(args.linger)  # a worker's teardown (torch takes seconds to unload) after its last word
    return 0


def plan(args) -> dict:
    return {"precision": "fp32", "packing": True, "examples": 12, "effective_batch": 2, "per_device_batch": 2,
            "accumulation": 1, "epochs": round(args.steps * 2 / 10, 4), "learning_rate": 1e-3, "scheduler": "cosine",
            "save_steps": 100, "save_total_limit": 2, "eval_steps": args.eval_every, "eval_examples": 4,
            "dpo_steps": args.dpo_steps,
            "phases": [["sft", args.steps]] + ([["dpo", args.dpo_steps]] if args.dpo_steps else [])}


def steps(stage: str, first: int, last: int, args, stop) -> int | None:
    """Steps ``first``..``last`` of ``stage``; the step a stop was honoured at, else None."""
    for step in range(first, last + 1):
        time.sleep(args.step_seconds)
        print(f"{stage} step {step} done", flush=True)
        dpo = stage == "dpo"
        wire.emit(ProgressReported(step=step, total=last, loss=round((0.7 if dpo else 3.0) / step, 4),
                                   learning_rate=1e-3, grad_norm=0.5, epoch=round(step / 10, 4),
                                   tokens_per_second=100.0 + step, rss=1.0 + step / 100, phase=stage, message=stage,
                                   reward_margin=0.01 * step if dpo else None, reward_accuracy=0.5 if dpo else None))
        if not dpo and args.eval_every and step % args.eval_every == 0:
            wire.emit(PhaseStarted(phase="eval", details={"examples": 4, "step": step}))
            wire.emit(EvalReported(step=step, eval_loss=round(3.5 / step, 4), best_loss=round(3.5 / step, 4),
                                   examples=4, metrics={"eval_runtime": 0.5}))
        if stop():
            return step
    return None


def phased_run(args) -> int:
    run_dir = args.run_dir or Path(".")
    wire.emit(PhaseStarted(phase="load", details=LOAD))
    wire.emit(PhaseFinished(phase="load", seconds=0.1, details=MODEL))
    wire.emit(PhaseStarted(phase="data", details={"dir": DATA["dir"]}))
    wire.emit(PhaseFinished(phase="data", seconds=0.1, details=DATA))
    wire.emit(JobStarted(name="train", backend="peft", device="cpu", total_steps=args.steps,
                         resumed_from_step=args.start_step or None, details=plan(args)))
    wire.emit(PhaseStarted(phase="sft", total=args.steps, details={"first_step": args.start_step + 1}))
    stopped = steps("sft", args.start_step + 1, args.steps, args, wire.stop_requested)
    if stopped is not None:
        path = str(run_dir / "checkpoints" / f"checkpoint-{stopped}")
        wire.emit(CheckpointSaved(step=stopped, path=path))
        wire.emit(PhaseFinished(phase="sft", seconds=1.0, details={"step": stopped, "stopped": True,
                                                                    "checkpoint": path}))
        wire.emit(PhaseFinished(phase="run", seconds=1.0, details={"status": "stopped", "steps": stopped,
                                                                    "total_steps": args.steps}))
        wire.emit(JobFinished(status="stopped", step=stopped))
        return 0
    wire.emit(PhaseFinished(phase="sft", seconds=1.0, details={"step": args.steps, "first_loss": 3.0,
                                                                "last_loss": round(3.0 / args.steps, 4)}))
    wire.emit(PhaseFinished(phase="save", seconds=0.1, details={"stage": "sft", "bytes": 5_900_000,
                                                                 "path": str(run_dir / "adapter")}))
    if args.dpo_steps:
        wire.emit(PhaseStarted(phase="dpo", total=args.dpo_steps, details={"pairs": 11, "beta": 0.1,
                                                                             "learning_rate": 5e-6}))
        steps("dpo", 1, args.dpo_steps, args, lambda: False)
        wire.emit(PhaseFinished(phase="dpo", seconds=1.0, details={"steps": args.dpo_steps, "first_loss": 0.7,
                                                                    "last_loss": round(0.7 / args.dpo_steps, 4)}))
    wire.emit(PhaseFinished(phase="run", seconds=2.0, details={
        "status": "finished", "steps": args.steps, "total_steps": args.steps, "tokens": 2400, "first_loss": 3.0,
        "last_loss": round(3.0 / args.steps, 4), "adapter": str(run_dir / "adapter")}))
    wire.emit(JobFinished(status="finished", step=args.steps, result={"final_loss": round(3.0 / args.steps, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
