"""Where the training runtime is, and which Python runs a worker in the frozen app.

The executable bundles the app, the control panel and llama.cpp, not the training stack (torch, transformers, peft,
trl: README, "Packaging", says why). The heavy workers (``HEAVY_WORKERS``) run in the training runtime instead: a
virtual environment in the per-user data folder that ``launcher.py runtime install`` provisions (``core.runtime``),
running the source copy of the app bundled in ``_internal/app``. Source checkouts have no runtime: their ``.venv``
already holds everything, so every worker runs there. ``runtime.json`` is written last by the installer: a runtime
without it is incomplete and is never used.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core.config.resources import BUNDLE_ROOT, PROJECT_ROOT

HEAVY_WORKERS = ("train", "export", "eval", "embed", "convert")  # they import torch / transformers
# Workers that run in the executable (llama.cpp is bundled) but embed with sentence-transformers once the workspace
# has a memory index: with a runtime installed they run there, so the bot's memory works in the frozen app.
MEMORY_WORKERS = ("bot", "chat")
MARKER = "runtime.json"
RUNTIME_FOLDER = "runtime"
ENV_RUNTIME_DIR = "DPS_RUNTIME_DIR"  # another runtime folder (tests, a shared install)


@dataclass(frozen=True)
class Runtime:
    folder: Path
    python: Path
    info: dict  # what the installer recorded: versions, cuda, when


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def default_runtime_dir() -> Path:
    override = os.environ.get(ENV_RUNTIME_DIR)
    if override:
        return Path(override)
    import platformdirs
    return Path(platformdirs.user_data_dir("DiscordPersonaStudio", appauthor=False)) / RUNTIME_FOLDER


def venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_runtime(folder: Path | None = None) -> Runtime | None:
    """The complete runtime at ``folder`` (default: the per-user one), or None."""
    folder = default_runtime_dir() if folder is None else folder
    python = venv_python(folder)
    try:
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Runtime(folder, python, info) if python.exists() and isinstance(info, dict) else None


def app_source_dir() -> Path:
    """The folder holding ``launcher.py`` and the source packages that the runtime's Python runs."""
    return BUNDLE_ROOT / "app" if frozen() else PROJECT_ROOT


def runtime_worker_prefix(name: str) -> tuple[str, ...] | None:
    """In the frozen app, ``(runtime python, app/launcher.py)`` for a heavy or memory worker once a runtime is
    installed; None otherwise (the worker runs in this executable or this interpreter)."""
    if not frozen() or name not in HEAVY_WORKERS + MEMORY_WORKERS:
        return None
    runtime = installed_runtime()
    if runtime is None:
        return None
    return (str(runtime.python), str(app_source_dir() / "launcher.py"))


def runtime_missing_message(name: str) -> str:
    return (f"the {name} worker needs the training runtime (torch, transformers), which the executable does not "
            f"bundle; install it with `DiscordPersonaStudio runtime install` (add --cuda on an NVIDIA GPU)")
