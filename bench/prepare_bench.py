"""Benchmark of ``prepare``: generated messages → import → prepared sets; prints messages/s and peak RSS.

    python bench/prepare_bench.py [--messages 1000000] [--seed 0] [--work bench/out/prepare]

The export is generated with ``bench/synthetic.py`` and imported once; the workspace database is cached under
``--work`` (keyed by message count and seed, the import's own figures stored beside it), because generating and
importing a million messages takes minutes and is measured by the import benchmark. ``prepare`` then runs as a real
subprocess of ``launcher.py``, timed by the wall clock, its peak RSS sampled with psutil (and read from the kernel's
rusage where available). Target: a million messages prepared in at most 60 s on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 60.0
SAMPLE_SECONDS = 0.05


def children_cpu_seconds() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(argv: list[str]) -> tuple[float, float, float, str]:
    """Run a command; returns (wall seconds, CPU seconds, peak RSS in MB, stdout). Fails loudly on an error exit.

    CPU seconds are reported beside the wall clock because on a shared machine the wall clock measures the
    neighbours too."""
    cpu_before = children_cpu_seconds()
    with tempfile.TemporaryFile() as stdout_file, tempfile.TemporaryFile() as stderr_file:
        started = time.perf_counter()  # output goes to files: a full pipe would stall the child and the clock
        process = subprocess.Popen(argv, cwd=ROOT, stdout=stdout_file, stderr=stderr_file)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed ({process.returncode}): {stderr.decode()[-2000:]}")
    try:
        import resource
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)  # Linux reports KiB
    except ImportError:  # Windows: the sampled peak is all there is
        pass
    return seconds, children_cpu_seconds() - cpu_before, peak / 2**20, stdout.decode()


def cached_workspace(work: Path, messages: int, seed: int) -> tuple[Path, dict]:
    """A workspace holding the imported synthetic export; built (generate + import) only when missing."""
    workspace = work / f"workspace-{messages}-{seed}"
    figures_path = workspace / "import-figures.json"
    if figures_path.exists():
        return workspace, {**json.loads(figures_path.read_text()), "cached": True}
    shutil.rmtree(workspace, ignore_errors=True)
    export = work / f"export-{messages}-{seed}"
    shutil.rmtree(export, ignore_errors=True)
    from bench.synthetic import write_synthetic_export
    print(f"generating {messages:,} messages ...", flush=True)
    started = time.perf_counter()
    write_synthetic_export(export, messages, seed)
    generated = time.perf_counter() - started
    print(f"importing ({generated:.0f} s to generate) ...", flush=True)
    seconds, _, peak, _ = run_measured([sys.executable, "launcher.py", "--workspace", str(workspace), "import",
                                     str(export), "--json"])
    shutil.rmtree(export, ignore_errors=True)  # the database is what later runs reuse
    figures = {"import_seconds": round(seconds, 1), "import_messages_per_second": round(messages / seconds),
               "import_peak_rss_mb": round(peak)}
    figures_path.write_text(json.dumps(figures))
    return workspace, {**figures, "cached": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "prepare")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    workspace, imported = cached_workspace(args.work, args.messages, args.seed)
    out = args.work / "dataset"
    load = psutil.getloadavg()[0]
    seconds, cpu, peak, stdout = run_measured([sys.executable, "launcher.py", "--workspace", str(workspace),
                                               "prepare", "--out", str(out), "--json"])
    summary = json.loads(stdout)
    examples = summary["examples"]
    verdict = "meets" if seconds <= TARGET_SECONDS else "MISSES"
    lines = [
        f"machine: {psutil.cpu_count(logical=True)} logical CPUs, Python {sys.version.split()[0]}",
        f"import ({'cached from an earlier run' if imported['cached'] else 'this run'}): {args.messages:,} messages "
        f"in {imported['import_seconds']} s = {imported['import_messages_per_second']:,} msg/s, "
        f"peak RSS {imported['import_peak_rss_mb']} MB",
        f"prepare: {args.messages:,} messages in {seconds:.1f} s = {args.messages / seconds:,.0f} msg/s, "
        f"peak RSS {peak:.0f} MB ({verdict} the {TARGET_SECONDS:.0f} s target); CPU time {cpu:.1f} s; "
        f"load average before the run {load:.1f}",
        f"  examples: train {examples['train']:,}, val {examples['val']:,}, test {examples['test']:,}; "
        f"DPO pairs {summary['dpo_pairs']:,}; personas {len(summary['personas'])}; "
        f"largest share after balancing {max((p['share_after'] for p in summary['personas']), default=0):.3f}",
    ]
    print("\n".join(lines))
    (args.work / "figures.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
