"""A stand-in for the training worker under data parallelism, without a model: run as N processes by Accelerate's
launcher (``core.training.processes.launch_argv``), each rank steps through the real ``EventCallback`` with the real
``model.distributed`` link until a stop request ends it, then rank 0 reports every rank's last step.

Usage: python tests/rank_probe.py [--steps N] [--step-seconds S]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from transformers import TrainerControl, TrainerState  # noqa: E402

from core.jobs.events import JobFinished, JobStarted, ProgressReported  # noqa: E402
from model import distributed  # noqa: E402
from model.training_callbacks import EventCallback  # noqa: E402


class Args:
    device = torch.device("cpu")
    output_dir = "."


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    options = parser.parse_args(argv)
    link = distributed.worker_link()
    dist.init_process_group("gloo")
    callback, state, control = EventCallback(link), TrainerState(), TrainerControl()
    link.emit(JobStarted(name="probe", backend="gloo", device="cpu", total_steps=options.steps,
                         details={"processes": distributed.world_size(), "rank": distributed.rank()}))
    for step in range(1, options.steps + 1):
        state.global_step = step
        link.emit(ProgressReported(step=step, total=options.steps, loss=1.0, message=f"rank {distributed.rank()}"))
        time.sleep(options.step_seconds * (1 + distributed.rank()))  # rank 1 is slower: the ranks drift apart
        callback.on_step_end(Args(), state, control)
        if control.should_training_stop:
            break
    last = [torch.zeros(1, dtype=torch.int64) for _ in range(distributed.world_size())]
    dist.all_gather(last, torch.tensor([state.global_step]))
    print(f"rank {distributed.rank()} stopped at step {state.global_step}", flush=True)
    link.emit(JobFinished(status="stopped" if callback.stopped else "finished", step=state.global_step,
                          result={"last_steps": [int(value.item()) for value in last],
                                  "saved": bool(control.should_save)}))
    distributed.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
