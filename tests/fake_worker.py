"""A tiny stand-in for a training worker, for the job runner's tests: it speaks the real wire protocol.

Usage: python tests/fake_worker.py [--steps N] [--step-seconds S] [--ignore-stop] [--fail-at STEP] [--oom-at STEP]
[--ignore-term] [--garbage] [--run-dir DIR] [--start-step N] [--print-requests] [--chatty N]

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

from core.jobs.events import (CheckpointSaved, JobFailed, JobFinished, JobStarted, JobStateChanged,  # noqa: E402
                              ProgressReported, Request, StopJob, register_request)


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
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
