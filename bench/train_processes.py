"""``train_bench.py --processes 1,2``: our worker's throughput on 1 and N data-parallel processes, side by side.

Each count is a real run through the job runner (``launcher.py train --gpus N``: Accelerate's launcher for N > 1),
packed, on the same data, with the same per-process batch, so N processes take N times the rows per step; tokens/s
counts every process's real tokens (TRL gathers them). Beside wall-clock tokens/s, tokens per CPU-second of the
worker's whole process tree: on a shared machine that one hardly moves with the load, and on an idle CPU the
wall-clock rate is about it times the cores kept busy. With CUDA: the Qwen2.5-3B shape of the main benchmark, one
GPU per process (a count above the GPUs there is skipped). Without: SmolLM2-135M (the offline base model) as N CPU
processes over gloo sharing the cores (each gets cores / N threads) — a check that the path works and what it costs
on a CPU, not a reason to use it there. Figures are printed with the ratio and written to
bench/out/train_processes.json.
"""
from __future__ import annotations

import json
from pathlib import Path

GPU_DEFAULTS = (30, 10, 8, 1024, 64)  # steps, warm-up steps, batch per process, max length, LoRA rank: as the main run
CPU_DEFAULTS = (12, 4, 2, 256, 8)     # as the cpu-tiny preset, a few steps
CPU_FLAGS = {"lora_layers": 8, "gradient_checkpointing": False, "precision": "fp32"}  # as the cpu-tiny preset


def run_processes(args) -> int:
    import torch
    from bench.train_bench import QWEN_3B, ROOT, machine, make_model, run_worker, write_chats
    from core.config.resources import default_base_model
    counts = [int(part) for part in args.processes.split(",") if part.strip()]
    cuda = torch.cuda.is_available()
    info = machine()
    info["gpus"] = torch.cuda.device_count() if cuda else 0
    work = ROOT / "bench" / "out" / "train_bench"
    steps, warmup, batch, max_length, rank = GPU_DEFAULTS if cuda else CPU_DEFAULTS
    args.steps, args.warmup, args.batch = args.steps or steps, args.warmup or warmup, args.batch or batch
    args.max_length, args.rank = args.max_length or max_length, rank if not cuda else args.rank
    args.preset, args.tiny = ("vram-24gb" if cuda else "cpu-tiny"), False
    if cuda:
        model, overrides = make_model(work / "model-qwen3b", QWEN_3B, args.tokenizer or default_base_model()), {}
    else:
        model, overrides = default_base_model(), dict(CPU_FLAGS)
    data = write_chats(work / "data", 200 if not cuda else args.examples)
    print(f"train_bench --processes {args.processes} on {info['device']} ({info['gpus']} GPU(s), "
          f"{info['cores']} cores), {info['date']}", flush=True)
    results = {}
    for count in counts:
        print(f"--- {count} process(es)", flush=True)
        before = load_average()
        results[count] = run_worker(Path(model), data, work, args, True, processes=count, overrides=overrides,
                                    cpu_seconds=tree_cpu_seconds)
        results[count].update(cpu_rate(results[count], args.warmup))
        results[count]["load_average"] = [before, load_average()]  # the machine may be shared: say how busy
        print(f"    {results[count]}", flush=True)
    report(info, args, results)
    return 0


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its live descendants (the launcher and every rank)."""
    import psutil
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def cpu_rate(result: dict, warmup: int) -> dict:
    """CPU seconds per step and tokens per CPU-second over the steady steps."""
    cpu = {step: seconds for step, seconds in (result.pop("cpu_by_step", None) or {}).items() if seconds is not None}
    steps = sorted(step for step in cpu if step >= warmup)
    if len(steps) < 2 or not result.get("tokens_per_step"):
        return {}
    per_step = (cpu[steps[-1]] - cpu[steps[0]]) / (steps[-1] - steps[0])
    return {"cpu_seconds_per_step": round(per_step, 3),
            "tokens_per_cpu_second": round(result["tokens_per_step"] / per_step, 1) if per_step > 0 else None}


def load_average() -> float | None:
    import os
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def report(info: dict, args, results: dict) -> None:
    print(f"\nmachine: {json.dumps(info)}")
    print(f"steps {args.steps} (steady state after {args.warmup}), batch {args.batch} per process, max length "
          f"{args.max_length}, packed")
    print(f"{'processes':<10} {'s/step':>8} {'tokens/step':>12} {'tokens/s':>10} {'tokens/CPU-s':>13} "
          f"{'peak VRAM GB':>13}")
    for count, result in results.items():
        if "error" in result:
            print(f"{count:<10} {result['error']}")
            continue
        print(f"{count:<10} {result['seconds_per_step']:>8} {result['tokens_per_step']:>12} "
              f"{result['tokens_per_second']:>10} {result.get('tokens_per_cpu_second') or '-':>13} "
              f"{result['peak_vram_gb'] or '-':>13}   load average "
              f"{result['load_average'][0]} -> {result['load_average'][1]}")
    for key, unit in (("tokens_per_second", "tokens/s"), ("tokens_per_cpu_second", "tokens per CPU-second")):
        rates = {count: result.get(key) for count, result in results.items()}
        base = rates.get(min(rates)) if rates else None
        for count, rate in rates.items():
            if base and rate and count != min(rates):
                print(f"ratio {count} / {min(rates)} processes: {rate / base:.2f}x {unit}")
    path = args.out or Path(__file__).resolve().parent / "out" / "train_processes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "settings": {key: value for key, value in vars(args).items()
                                                              if isinstance(value, (int, str, bool, type(None)))},
                                "results": {str(count): result for count, result in results.items()}}, indent=2),
                    encoding="utf-8")
    print(f"written: {path}")
