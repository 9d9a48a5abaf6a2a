"""How many processes a training run uses, and the command line that starts them (data parallel, several GPUs).

One process (one GPU, no GPU, or Windows) starts the worker exactly as before: no launcher in between. With N > 1
the worker is started through Accelerate's launcher (``python -m accelerate.commands.launch --multi_gpu``), which
hands over to torch.distributed's elastic launcher: N copies of the same worker, each with RANK, LOCAL_RANK and
WORLD_SIZE set, and the Trainer (through Accelerate) trains them data parallel (DDP: NCCL between GPUs, gloo between
CPU processes). We schedule nothing ourselves. The worker's side (rank 0 alone reports; a stop reaches every rank at
the same step) is ``model.distributed``.

The launcher is a Python module, not the ``accelerate`` script: a heavy worker always runs in a Python with torch
(this interpreter from a checkout, the training runtime's in the frozen app: ``core.config.runtime``), so the same
command line works in both; the launched processes run that Python too.

Effective batch: ``per_device_batch_size x gradient_accumulation_steps x processes``, as in Hugging Face's Trainer.
Steps are optimizer steps, so N processes go through an epoch in about 1/N of the steps. A run resumed with another
count keeps its step count, optimizer state and learning-rate schedule; from there each step takes the new effective
batch, and the data position is counted in steps (fewer processes see a few of the epoch's examples again, more skip
a few). Each rank's RNG state is saved as ``rng_state_<rank>.pth`` (one process: ``rng_state.pth``); a rank that
finds none of its own starts from the seed, which changes only dropout (0 in every preset).

Backends: each rank picks its backend as one process would (Unsloth on CUDA when it imports, else PEFT + TRL).
Unsloth's documentation gives DDP through ``accelerate launch`` as its multi-GPU path (unsloth.ai/docs, "Multi-GPU
Fine-tuning with Unsloth"); the worker pins each rank to its LOCAL_RANK GPU before Unsloth loads. Not yet run on a
machine with several GPUs here (the pinned 2026.10.9 included): if Unsloth fails under DDP, ``backend = "peft"`` in
``[training]`` takes the PEFT path.

Windows: PyTorch ships no NCCL there, and torch.distributed between GPUs on Windows is gloo over the host at best, so
several GPUs are Linux-only (WSL2 counts as Linux); on Windows a run uses one GPU and asking for more is refused.
Without any GPU, N > 1 runs N CPU processes over gloo sharing the cores: what the tests use. On the 2-core test
machine two processes trained SmolLM2-135M at 1.2-1.5x one process's tokens per CPU-second (bench/RESULTS.md), a
small model and a shared machine: measure before relying on it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

LAUNCH_MODULE = ("-m", "accelerate.commands.launch")
WINDOWS_NOTE = ("several GPUs train on Linux only (PyTorch has no NCCL on Windows); use one GPU here, or WSL2 for "
                "several")
CPU_NOTE = ("no NVIDIA GPU found: {n} CPU processes (gloo) sharing the cores — a test path, not tuned for speed "
            "(bench/RESULTS.md)")


class ProcessCountError(ValueError):
    """The process count asked for cannot run here; the message says why and what to use."""


@dataclass(frozen=True)
class ProcessPlan:
    processes: int
    warnings: list[str] = field(default_factory=list)


def multi_process_supported(os_name: str = os.name) -> bool:
    return os_name != "nt"


def visible_gpus(smi_count: int | None, cuda_visible_devices: str | None) -> int | None:
    """The GPUs a worker will see: nvidia-smi's count, narrowed by CUDA_VISIBLE_DEVICES when it is set (as torch
    does); None when nvidia-smi has not answered yet."""
    if smi_count is None:
        return None
    if cuda_visible_devices is None:
        return smi_count
    listed = [part for part in cuda_visible_devices.split(",") if part.strip()]
    if listed and listed[0].strip().startswith("-"):  # torch stops at the first invalid id: "-1" hides them all
        return 0
    return min(smi_count, len(listed))


def default_processes(gpus: int | None, os_name: str = os.name) -> int:
    """All visible GPUs on Linux; one process on Windows, without a GPU, or before nvidia-smi answers."""
    return max(1, gpus or 1) if multi_process_supported(os_name) else 1


def plan_processes(requested: int | None, gpus: int | None, *, recorded: int | None = None,
                   os_name: str = os.name) -> ProcessPlan:
    """The process count for a run: ``requested`` (``--gpus``) if it can run here, else an error; without one, the
    count the run was started with (``recorded``, a resume) when it still fits, else all visible GPUs."""
    if requested is not None:
        return ProcessPlan(requested, check_requested(requested, gpus, os_name))
    if recorded is not None and recorded > 1:
        fits = multi_process_supported(os_name) and (gpus is None or gpus >= recorded)
        if fits:
            return ProcessPlan(recorded)
        fallback = default_processes(gpus, os_name)
        why = WINDOWS_NOTE if not multi_process_supported(os_name) else f"{gpus or 'no'} GPU(s) visible now"
        return ProcessPlan(fallback, [f"the run used {recorded} processes; it continues with {fallback} ({why})"])
    return ProcessPlan(default_processes(gpus, os_name))


def check_requested(requested: int, gpus: int | None, os_name: str) -> list[str]:
    if requested < 1:
        raise ProcessCountError("--gpus must be at least 1")
    if requested == 1:
        return []
    if not multi_process_supported(os_name):
        raise ProcessCountError(WINDOWS_NOTE)
    if gpus == 0:
        return [CPU_NOTE.format(n=requested)]
    if gpus is not None and requested > gpus:
        raise ProcessCountError(f"--gpus {requested}, but only {gpus} GPU(s) are visible (CUDA_VISIBLE_DEVICES "
                                f"and nvidia-smi): ask for at most {gpus}")
    return []


def launch_argv(worker: tuple[str, ...], processes: int, *, cpu_threads: int | None = None) -> tuple[str, ...]:
    """The command line for ``worker`` (from ``core.jobs.specs.worker_argv``) run as ``processes`` data-parallel
    copies; ``worker`` itself for one process, or when it is not ``python SCRIPT.py ...`` (a frozen executable
    without a training runtime: it answers with its own "install the runtime" failure)."""
    if processes <= 1 or len(worker) < 2 or Path(worker[1]).suffix != ".py":
        return worker
    python, script, *args = worker
    options = ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1", "--machine_rank", "0",
               "--gpu_ids", "all",  # the GPUs CUDA_VISIBLE_DEVICES leaves, first N: never an `accelerate config` list
               "--mixed_precision", "no",  # the Trainer's own bf16/fp16 arguments decide; this is only the default
               "--dynamo_backend", "no",
               "--main_process_ip", "127.0.0.1", "--main_process_port", "0"]  # 0: a free port, so runs never clash
    if cpu_threads:
        options += ["--num_cpu_threads_per_process", str(cpu_threads)]
    return (python, *LAUNCH_MODULE, *options, script, *args)


def cpu_threads_per_process(processes: int, gpus: int | None) -> int | None:
    """CPU processes share the cores (the launcher's default is one thread each); GPU ranks keep its default."""
    if processes <= 1 or gpus:
        return None
    return max(1, (os.cpu_count() or 1) // processes)
