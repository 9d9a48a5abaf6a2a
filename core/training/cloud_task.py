"""The SkyPilot task of a cloud training run: what leaves this machine, written into the run folder before launch.

``write_task(run_dir, options)`` stages everything the rented machine gets under ``RUN/cloud/``::

    task.yaml      the SkyPilot task (a plain YAML file: launch it by hand with the command in its first lines)
    source/        this app's source (core, model, storage, launcher.py, install.py, the requirements files) and
                   requirements-worker.txt: the training runtime the setup installs (requirements-ml.txt with
                   requirements-cuda.txt's lines in place of the same packages', install.py --cuda's rule, plus the
                   few app packages the worker imports)
    data/          the dataset files training reads (``LEAVING_FILES``: train, val, dpo; test.jsonl stays)
    run/config.json  the run config with the remote paths: no local path, no workspace database, no secret

A local base model (a .gguf file or a model folder) is mounted from where it lies; a hub id is downloaded by the
remote machine. The remote paths are relative to SkyPilot's working directory (``~/sky_workdir``), so the worker's
paths in its events read ``../dps-run/...`` and ``core.training.cloud_stream`` maps them back to the run folder.
The task never carries a secret: no bot token, no keyring entry, no environment of this process.
Nothing here imports SkyPilot: the YAML is written by ``to_yaml`` (JSON-quoted scalars, literal blocks).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.config.workspace import atomic_write_text
from core.jobs import runs

LEAVING_FILES = ("train.jsonl", "val.jsonl", "dpo.jsonl")  # what training reads; test.jsonl stays for evaluation
CLOUD_DIR, TASK_FILE = "cloud", "task.yaml"
SOURCE_DIR, DATA_DIR, REMOTE_CONFIG_DIR = "source", "data", "run"
WORKER_REQUIREMENTS = "requirements-worker.txt"
REMOTE_RUN, REMOTE_DATA, REMOTE_BASE = "~/dps-run", "~/dps-data", "~/dps-base"
REMOTE_VENV = "~/dps-venv"
RELATIVE_RUN = "../dps-run"  # the run folder as the worker sees it from ~/sky_workdir
DEFAULT_ACCELERATOR = "A10G:1"
DEFAULT_IDLE_MINUTES = 10  # after the job ends, before the cluster tears itself down if the app did not
SOURCE_PARTS = ("core", "model", "storage", "launcher.py", "install.py", "requirements.txt", "requirements-ml.txt",
                "requirements-cuda.txt")
REMOTE_APP_PACKAGES = ("platformdirs", "keyring", "psutil", "filelock")  # what core imports on the worker's path
# GPU memory of the usual rentable accelerators, for the preset and the memory estimate (names as SkyPilot's).
ACCELERATOR_GB = {"T4": 16, "V100": 16, "V100-32GB": 32, "A10": 24, "A10G": 24, "L4": 24, "RTX4090": 24,
                  "RTX3090": 24, "A40": 48, "L40": 48, "L40S": 48, "RTXA6000": 48, "A100": 40, "A100-80GB": 80,
                  "H100": 80, "H100-SXM": 80, "H200": 141, "B200": 180}


class CloudTaskError(ValueError):
    """The task cannot be written as asked; the message says what to change."""


@dataclass(frozen=True)
class CloudOptions:
    accelerator: str = DEFAULT_ACCELERATOR  # SkyPilot's NAME:COUNT
    infra: str | None = None                # "aws", "gcp/us-central1", "k8s"...; None: the cheapest enabled
    use_spot: bool = False
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    disk_size: int | None = None            # GB; None: SkyPilot's default

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def leaving_files(data_dir: Path) -> list[Path]:
    """The dataset files the task uploads (the ones that exist), in a fixed order."""
    return [Path(data_dir) / name for name in LEAVING_FILES if (Path(data_dir) / name).is_file()]


def accelerator_gb(accelerator: str) -> float | None:
    """GPU memory of one ``NAME[:COUNT]`` accelerator, when it is a known one."""
    return ACCELERATOR_GB.get(accelerator.split(":", 1)[0].strip().upper().replace("_", "-"))


def check_options(options: CloudOptions) -> None:
    name, _, count = options.accelerator.partition(":")
    if not name.strip() or (count and not count.strip().isdigit()) or any(c.isspace() for c in options.accelerator):
        raise CloudTaskError(f"--accelerator {options.accelerator!r}: give NAME or NAME:COUNT (e.g. A10G:1)")
    if options.idle_minutes < 1:
        raise CloudTaskError("--idle-minutes must be at least 1")


def cluster_name(run_dir: Path) -> str:
    """A SkyPilot cluster name from the run id: lowercase, starts with a letter, short enough for every cloud."""
    parts = [part for part in run_dir.name.lower().split("-") if part and part != "train"]
    return "dps-" + "-".join("".join(ch for ch in part if ch.isalnum()) for part in parts)[:40].strip("-")


def cloud_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CLOUD_DIR


def task_path(run_dir: Path) -> Path:
    return cloud_dir(run_dir) / TASK_FILE


def write_task(run_dir: Path, options: CloudOptions, source_root: Path) -> Path:
    """Stage the source, the dataset files and the remote config, then write task.yaml (last, atomically)."""
    check_options(options)
    snapshot = runs.read_config(run_dir)
    data_dir = Path(snapshot.get("data_dir") or "")
    if not leaving_files(data_dir):
        raise CloudTaskError(f"the dataset {data_dir} has none of {', '.join(LEAVING_FILES)}")
    folder = cloud_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stage_source(source_root, folder / SOURCE_DIR)
    stage_data(data_dir, folder / DATA_DIR)
    base = snapshot.get("base_model") or {}
    remote_config = remote_snapshot(snapshot, base)
    (folder / REMOTE_CONFIG_DIR).mkdir(exist_ok=True)
    atomic_write_text(folder / REMOTE_CONFIG_DIR / runs.CONFIG_FILE, json.dumps(remote_config, indent=2))
    task = task_dict(run_dir.name, options, base)
    header = (f"# Discord Persona Studio: training run {run_dir.name} on a rented GPU (a SkyPilot task).\n"
              f"# Launch it by hand from this folder:\n#   {' '.join(hand_launch_argv(run_dir, options))}\n")
    atomic_write_text(folder / TASK_FILE, header + to_yaml(task))
    return folder / TASK_FILE


def stage_source(source_root: Path, target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    target.mkdir(parents=True, exist_ok=True)
    for part in SOURCE_PARTS:
        origin = Path(source_root) / part
        if origin.is_dir():
            shutil.copytree(origin, target / part, ignore=ignore, dirs_exist_ok=True)
        elif origin.is_file():
            shutil.copy2(origin, target / part)
        else:
            raise CloudTaskError(f"{origin} is missing: the app's source is incomplete")
    atomic_write_text(target / WORKER_REQUIREMENTS, worker_requirements(Path(source_root)))


def worker_requirements(source_root: Path) -> str:
    """install.py's own rule and pins (its ``requirement_name`` and ``TORCH_VERSION``), as the runtime installer
    uses them."""
    from core.runtime.provision import ProvisionError, load_install_module
    try:
        install = load_install_module(source_root)
    except ProvisionError as exc:
        raise CloudTaskError(str(exc)) from None

    def lines(name: str) -> list[str]:
        return (source_root / name).read_text(encoding="utf-8").splitlines()
    overrides = lines("requirements-cuda.txt")
    replaced = {install.requirement_name(line) for line in overrides} - {None}
    kept = [line for line in lines("requirements-ml.txt") if install.requirement_name(line) not in replaced]
    app = [line for line in lines("requirements.txt") if install.requirement_name(line) in REMOTE_APP_PACKAGES]
    return ("# The cloud worker's runtime, written by the app: torch (PyPI's Linux build is the CUDA one),\n"
            "# requirements-ml.txt with requirements-cuda.txt's lines in place of the same packages' (install.py\n"
            "# --cuda's rule), and the app packages the train worker imports.\n"
            + "\n".join([f"torch=={install.TORCH_VERSION}", *kept, *overrides, *app]) + "\n")


def stage_data(data_dir: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*"):
        if stale.is_file() and stale.name not in LEAVING_FILES:
            stale.unlink()
    for path in leaving_files(data_dir):
        shutil.copy2(path, target / path.name)


def remote_base(base: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(the base model's path for the remote worker, the file-mount target, the local source) for a local base;
    a hub id stays as it is (the remote machine downloads it)."""
    kind, source = base.get("kind"), base.get("source", "")
    if kind not in ("gguf", "folder"):
        return source, None, None
    name = Path(source).name
    return f"../{REMOTE_BASE[2:]}/{name}", f"{REMOTE_BASE}/{name}", str(Path(source).resolve())


def remote_snapshot(snapshot: dict[str, Any], base: dict[str, str]) -> dict[str, Any]:
    """The config.json the remote worker reads: only what training needs, with remote paths."""
    kept = {key: snapshot[key] for key in ("run_id", "created_at", "kind", "preset", "training", "backend")
            if key in snapshot}
    return {**kept, "base_model": {**base, "source": remote_base(base)[0]}, "data_dir": f"../{REMOTE_DATA[2:]}"}


def task_dict(run_id: str, options: CloudOptions, base: dict[str, str]) -> dict[str, Any]:
    resources: dict[str, Any] = {"accelerators": options.accelerator}
    if options.infra:
        resources["infra"] = options.infra
    if options.use_spot:
        resources["use_spot"] = True
    if options.disk_size:
        resources["disk_size"] = options.disk_size
    mounts = {REMOTE_DATA: DATA_DIR, REMOTE_RUN: REMOTE_CONFIG_DIR}
    _, base_target, base_source = remote_base(base)
    if base_target:
        mounts[base_target] = base_source
    return {"name": "dps-train", "resources": resources, "workdir": SOURCE_DIR, "file_mounts": mounts,
            "envs": {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "1",
                     "HF_HUB_DISABLE_TELEMETRY": "1", "DPS_RUN_ID": run_id},
            "setup": setup_script(), "run": run_script()}


def setup_script() -> str:
    venv = REMOTE_VENV
    return "\n".join([
        "set -e",
        f"if [ ! -x {venv}/bin/python ]; then",
        "  PY=$(command -v python3.13 || command -v python3.12 || command -v python3.11 || true)",
        f"  if [ -n \"$PY\" ]; then \"$PY\" -m venv {venv}; else",
        "    python3 -m pip install -q --user uv || python3 -m pip install -q --user --break-system-packages uv",
        f"    python3 -m uv venv -q --seed --python 3.11 {venv}",
        "  fi",
        "fi",
        f"{venv}/bin/python -m pip install -q --upgrade pip",
        f"{venv}/bin/python -m pip install -q -r {WORKER_REQUIREMENTS}", ""])


def run_script() -> str:
    """The worker with the run folder's STOP file as its stop signal, every output line numbered by cloud-stamp
    (stdout and stderr together: the numbers let the app resume a lost stream without repeating a line)."""
    return "\n".join([
        "set -o pipefail",
        "export DPS_STOP_FILE=\"$HOME/dps-run/STOP\"",
        "rm -f \"$DPS_STOP_FILE\"",
        f"{REMOTE_VENV}/bin/python launcher.py --worker train --run-dir {RELATIVE_RUN} 2>&1 | "
        f"{REMOTE_VENV}/bin/python launcher.py --worker cloud-stamp", ""])


def hand_launch_argv(run_dir: Path, options: CloudOptions) -> list[str]:
    return ["sky", "launch", "-c", cluster_name(run_dir), TASK_FILE, "-i", str(options.idle_minutes), "--down"]


def to_yaml(data: dict[str, Any], indent: int = 0) -> str:
    """YAML for the task's shapes: nested mappings of strings, numbers and booleans; multi-line strings as literal
    blocks. Scalars are JSON-quoted (valid YAML), so no value can turn into a key, a number or a comment."""
    pad = " " * indent
    out = []
    for key, value in data.items():
        label = f"{pad}{json.dumps(str(key), ensure_ascii=False)}:"
        if isinstance(value, dict):
            out.append(label + "\n" + to_yaml(value, indent + 2))
        elif isinstance(value, str) and "\n" in value:
            block = "\n".join(f"{pad}  {line}" if line else "" for line in value.rstrip("\n").split("\n"))
            out.append(f"{label} |\n{block}\n")
        else:
            out.append(f"{label} {json.dumps(value, ensure_ascii=False)}\n")
    return "".join(out)
