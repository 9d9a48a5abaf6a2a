"""The training worker's side of data-parallel runs (``core.training.processes`` starts the processes).

Each process knows its place from what torch.distributed's launcher put in its environment (RANK, LOCAL_RANK,
WORLD_SIZE); the Trainer, through Accelerate, builds the process group and DDP from the same variables. What the app
needs on top is here:

- Rank 0 alone talks to the runner: it emits the events and reads the runner's stdin. The other ranks share that
  stdin pipe, so they must not read it (a stop line one of them swallowed would never reach rank 0), and they emit
  nothing: the runner writes run.log, metrics.jsonl and state.json from rank 0's events only. Their own log lines
  and tracebacks still pass through to run.log.
- Every rank watches the STOP file and the app's pid, and a stop seen by any rank is agreed on by all of them at the
  same step boundary (``any_rank``), so all ranks ask the Trainer for the same checkpoint and end together; a rank
  that went on alone would wait forever in the next gradient all-reduce.
- Each rank trains on its own GPU (``use_own_gpu``).

With one process (no launcher) every function here is a no-op and the worker behaves exactly as before.
"""
from __future__ import annotations

import os

from core.jobs import wire

ENV_RANK, ENV_LOCAL_RANK, ENV_WORLD_SIZE = "RANK", "LOCAL_RANK", "WORLD_SIZE"


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def world_size() -> int:
    return max(1, _env_int(ENV_WORLD_SIZE, 1))


def rank() -> int:
    return _env_int(ENV_RANK, 0)


def local_rank() -> int:
    return _env_int(ENV_LOCAL_RANK, 0)


def is_main() -> bool:
    return rank() == 0


class RankLink(wire.WorkerLink):
    """The link of a rank other than 0: it hears stop requests (STOP file, the app's pid) and says nothing."""

    def emit(self, event) -> None:
        return None


def whole_lines() -> None:
    """Make each printed line one write to the shared pipe. The ranks share the runner's stdout, and the runner makes
    workers unbuffered, where ``print`` writes the text and its newline separately: two ranks printing at once gave
    "rank 0 stopped at step 3rank 1 stopped at step 3" on one line. Line-buffered, a line goes out whole, and a pipe
    write of up to 4 KiB is never split by another process's."""
    import sys
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=False)


def worker_link() -> wire.WorkerLink:
    """Rank 0 (or the only process): the usual link. Other ranks: a silent one that leaves stdin to rank 0. With
    several ranks, every rank's output goes out a whole line at a time (``whole_lines``)."""
    if world_size() > 1:
        whole_lines()
    if is_main():
        return wire.link()
    link = RankLink()
    link.watch_parent({key: value for key, value in os.environ.items() if key != wire.ENV_CONTROL})
    return link


def use_own_gpu() -> None:
    """Make ``cuda`` mean this rank's GPU (LOCAL_RANK) before anything touches CUDA: the model loaders move the
    model with ``.to("cuda")``, and Unsloth places a distributed rank by LOCAL_RANK as well."""
    if world_size() <= 1:
        return
    import torch
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())


def any_rank(flag: bool, device) -> bool:
    """True on every rank when ``flag`` is true on any of them (one all-reduce of one number: a collective, so every
    rank must call it at the same point, here each step's end)."""
    import torch.distributed as dist
    if world_size() <= 1 or not (dist.is_available() and dist.is_initialized()):
        return flag
    import torch
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def finish() -> None:
    """Leave the process group cleanly (PyTorch warns about a group never destroyed)."""
    if world_size() <= 1:
        return
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
