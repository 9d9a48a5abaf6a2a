"""Starting and resuming training runs: what the CLI, the GUI and the demo call before handing a job to the runner.

``plan_new_run`` resolves the base model and the dataset, builds the layered config (``core.config.training``),
estimates memory, and writes the run folder's config.json before anything is launched; ``plan_resume`` reopens a
stopped or interrupted run. Both settle the process count (``--gpus``, ``core.training.processes``) and record it in
config.json. ``training_job`` turns either into a ``JobSpec`` for ``core.jobs.runner.JobRunner``: the worker itself
for one process, or Accelerate's launcher starting N data-parallel copies of it.
A run planned with ``cloud`` options is sized for the rented accelerator instead of this machine's GPU and runs as
``cloud_training_job``, its task written by ``write_cloud_task`` once the owner confirmed the upload
(``core.training.cloud_task``).
A stale dataset or run (an opt-out or a forget since it was built) is refused; a new run is registered as an
artifact built from its dataset (``core.training.artifacts``).
"""
from __future__ import annotations

import json
import tomllib
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.jobs import runs
from core.training import artifacts, processes as process_plan, vram
from core.jobs.runner import JobSpec, worker_argv
from core.jobs.wire import ENV_ORPHAN_GRACE
from core.config.resources import ResourceMissing, default_base_model
from core.config.training import (PresetError, TrainingConfig, build_training_config, from_snapshot,
                                  resolve_base_model, to_dict)
from core.config.workspace import Workspace, atomic_write_text
from core.training.cloud_task import CloudOptions, CloudTaskError, accelerator_gb, check_options, write_task

UNKNOWN_CLOUD_GB = 16.0  # an accelerator missing from cloud_task.ACCELERATOR_GB: size the run for the smaller cards
CLOUD_STOP_GRACE = 1800.0  # a stop reaches the remote worker, which saves; then the download and the teardown
CLOUD_ORPHAN_GRACE = "900"  # the app closed: time to stop the remote worker, fetch its checkpoint and tear down


class LaunchError(ValueError):
    """The run cannot start as asked; the message says what to change."""


@dataclass
class PlannedRun:
    run_dir: Path
    config: TrainingConfig
    preset: str | None
    resume: bool
    estimate: vram.VramEstimate | None = None
    warnings: list[str] = field(default_factory=list)
    processes: int = 1                # data-parallel worker processes (one per GPU)
    cpu_threads: int | None = None    # per process, when several share the CPU

    @property
    def run_id(self) -> str:
        return self.run_dir.name


def user_training_table(workspace: Workspace) -> dict[str, Any]:
    """The [training] table exactly as the user wrote it (only explicit keys override a preset)."""
    path = workspace.config_path
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("training", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LaunchError(f"{path}: not valid TOML ({exc})") from None
    if not isinstance(table, dict):
        raise LaunchError(f"{path}: [training] must be a table")
    return table


def resolve_data_dir(workspace: Workspace, data: str | Path | None) -> Path:
    """The dataset to train on; refused when it is stale (its STALE file or its artifact row says so)."""
    from core.consent.stale import stale_message
    from core.dataset.writer import latest_dataset, stale_reason
    folder = Path(data).expanduser().resolve() if data else latest_dataset(workspace.datasets_dir)
    if folder is None:
        raise LaunchError("no prepared dataset yet: run `launcher.py prepare` first (or pass --data DIR)")
    reason = stale_reason(folder)  # before the train.jsonl check: forget empties a stale dataset's folder
    if reason:
        raise LaunchError(f"the dataset {folder} is stale: {reason.strip()}")
    with closing(workspace.connect()) as conn:
        refusal = stale_message(conn, folder, f"the dataset {folder}")
    if refusal:
        raise LaunchError(refusal)
    if not (folder / "train.jsonl").is_file():
        raise LaunchError(f"{folder} has no train.jsonl: pass a folder written by `launcher.py prepare`")
    return folder


def plan_new_run(workspace: Workspace, *, base: str | None = None, data: str | Path | None = None,
                 preset: str | None = None, flags: dict[str, Any] | None = None,
                 shape_reader: Callable[[str, str], vram.ModelShape | None] | None = None,
                 cloud: CloudOptions | None = None, processes: int | None = None) -> PlannedRun:
    """Validate everything, then create the run folder with its config snapshot. ``shape_reader(source, kind)``
    reads the model's shape for the memory estimate (default ``vram.shape_of``; the panel passes its header-only
    reader, which keeps no mapped GGUF in its process). With ``cloud``, the preset and the memory estimate are the
    rented accelerator's (a 16 GB card's when it is not a known one). ``processes``: ``--gpus`` (None: all visible
    GPUs; a cloud run has one process)."""
    try:
        base_model = resolve_base_model(base if base else default_base_model())
        if cloud is not None:
            check_options(cloud)
    except (PresetError, ResourceMissing, CloudTaskError) as exc:
        raise LaunchError(str(exc)) from None
    data_dir = resolve_data_dir(workspace, data)
    gpu_gb = vram.detect_gpu_memory_gb() if cloud is None else accelerator_gb(cloud.accelerator) or UNKNOWN_CLOUD_GB
    gpus = vram.detect_gpu_count() if cloud is None else None
    spread = plan_processes(processes, gpus) if cloud is None else process_plan.ProcessPlan(1)
    preset = preset or vram.preset_for_gpu(gpu_gb)
    try:
        config = build_training_config(preset, user_training_table(workspace), flags,
                                       user_source=str(workspace.config_path))
    except PresetError as exc:
        raise LaunchError(str(exc)) from None
    estimate = memory_estimate(config, base_model, gpu_gb, shape_reader)
    snapshot = {"kind": "train", "preset": preset, "training": to_dict(config), "base_model": base_model,
                "data_dir": str(data_dir), "backend": config.backend, "processes": spread.processes,
                "memory_estimate": estimate.__dict__ if estimate else None,
                artifacts.DATABASE_KEY: str(workspace.database_path)}  # where workers register their outputs
    if cloud is not None:
        snapshot["cloud"] = cloud.to_json()
    run_dir = runs.create_run(workspace.runs_dir, snapshot)
    with closing(workspace.connect()) as conn:
        artifacts.register_run(conn, run_dir, data_dir)  # before launch: a crash mid-run still leaves it covered
    warnings = ([estimate.warning()] if estimate and estimate.warning() else []) + spread.warnings
    return PlannedRun(run_dir, config, preset, resume=False, estimate=estimate, warnings=warnings,
                      processes=spread.processes,
                      cpu_threads=process_plan.cpu_threads_per_process(spread.processes, gpus))


def plan_processes(requested: int | None, gpus: int | None, recorded: int | None = None):
    try:
        return process_plan.plan_processes(requested, gpus, recorded=recorded)
    except process_plan.ProcessCountError as exc:
        raise LaunchError(str(exc)) from None


def memory_estimate(config: TrainingConfig, base_model: dict[str, str], gpu_gb: float | None,
                    shape_reader: Callable[[str, str], vram.ModelShape | None] | None = None):
    shape = (shape_reader or vram.shape_of)(base_model["source"], base_model["kind"])
    if shape is None:
        return None
    if gpu_gb is not None:
        return vram.estimate(config, shape, "cuda", gpu_gb)
    return vram.estimate(config, shape, "cpu", vram.available_ram_gb())


def plan_resume(workspace: Workspace, reference: str, *, max_steps: int | None = None,
                processes: int | None = None) -> PlannedRun:
    """Reopen a run that has a checkpoint; ``max_steps`` may extend it and ``processes`` change its process count
    (both recorded in its config.json; without ``processes`` the run's own count, when it still fits)."""
    try:
        run_dir = runs.find_run(workspace.runs_dir, reference)
    except runs.RunNotFound as exc:
        raise LaunchError(str(exc)) from None
    info = runs.run_info(run_dir)
    if info.status == "running":
        raise LaunchError(f"run {run_dir.name} is still running (pid {runs.read_state(run_dir).get('pid')})")
    with closing(workspace.connect()) as conn:
        refusal = artifacts.run_stale_message(conn, run_dir)
    if refusal:
        raise LaunchError(refusal)
    if runs.latest_checkpoint(run_dir) is None:
        raise LaunchError(f"run {run_dir.name} has no checkpoint to resume from; start a new run")
    snapshot = runs.read_config(run_dir)
    try:
        config = from_snapshot(snapshot.get("training") or {})
    except PresetError as exc:
        raise LaunchError(str(exc)) from None
    gpus = vram.detect_gpu_count()
    spread = plan_processes(processes, gpus, recorded=snapshot.get("processes"))
    if max_steps or spread.processes != snapshot.get("processes", 1):
        if max_steps:
            config.max_steps = max_steps
            snapshot["training"] = to_dict(config)
        snapshot["processes"] = spread.processes
        atomic_write_text(run_dir / runs.CONFIG_FILE, json.dumps(snapshot, indent=2, ensure_ascii=False))
    return PlannedRun(run_dir, config, snapshot.get("preset"), resume=True, warnings=spread.warnings,
                      processes=spread.processes,
                      cpu_threads=process_plan.cpu_threads_per_process(spread.processes, gpus))


def training_job(planned: PlannedRun) -> JobSpec:
    args = ["--run-dir", str(planned.run_dir)] + (["--resume"] if planned.resume else [])
    argv = process_plan.launch_argv(worker_argv("train", *args), planned.processes, cpu_threads=planned.cpu_threads)
    return JobSpec(name="train", argv=argv, run_dir=planned.run_dir)


def write_cloud_task(planned: PlannedRun, source_root: Path, *, confirmed_people: int | None) -> Path:
    """Write the run's SkyPilot task (``RUN/cloud/``) once the owner confirmed that ``confirmed_people`` people's
    messages leave; refused when the files would now carry someone else's (the dataset changed meanwhile)."""
    from core.dataset.leaving import people_leaving
    snapshot = runs.read_config(planned.run_dir)
    cloud = snapshot.get("cloud")
    if not isinstance(cloud, dict):
        raise LaunchError(f"run {planned.run_id} was not planned for the cloud")
    now = people_leaving(Path(snapshot["data_dir"]))
    if now != confirmed_people:
        raise LaunchError(f"the dataset now holds {now} people's messages, not the {confirmed_people} confirmed: "
                          "confirm again")
    try:
        return write_task(planned.run_dir, CloudOptions(**cloud), source_root)
    except CloudTaskError as exc:
        raise LaunchError(str(exc)) from None


def cloud_training_job(planned: PlannedRun) -> JobSpec:
    """The cloud worker as a training job: the same name, run folder and events as a local run."""
    return JobSpec(name="train", argv=worker_argv("cloud-train", "--run-dir", str(planned.run_dir)),
                   run_dir=planned.run_dir, stop_grace=CLOUD_STOP_GRACE, env={ENV_ORPHAN_GRACE: CLOUD_ORPHAN_GRACE})
