"""Provisioning the training runtime: a virtual environment with the training stack, for the frozen app's workers.

Steps (each reported through ``progress(step, total, message)``): find a Python 3.11+ to build the environment
from (on Windows also through the ``py`` launcher, which python.org's installer adds even when PATH is left alone),
create it, install torch (CPU, or CUDA: install.py's own choice of build and index), install the app's and the
workers' requirements (requirements-ml.txt, with requirements-cuda.txt's lines in place of the same packages' for
CUDA, exactly as ``install.py --cuda`` merges them), the offline embedding model, then copy the app's own llama_cpp
package into it (the portable build that ships, so export and eval use the same llama.cpp as the bot) and check that
everything imports. ``runtime.json`` is written last: until then the runtime does not exist for the app, so an
interrupted install is simply redone. ``link`` skips the installs and points the runtime at an existing
environment's site-packages instead (a checkout's .venv: for developers and CI, where downloading torch again
would only cost time).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from core.config.resources import BUNDLE_ROOT
from core.config.runtime import MARKER, app_source_dir, frozen, installed_runtime, venv_python
from core.jobs.processes import no_window

MIN_PYTHON = (3, 11)
PYTHON_NAMES = ("python3.13", "python3.12", "python3.11", "python3", "python")
LAUNCHER_VERSIONS = ("3.13", "3.12", "3.11")  # what the Windows py launcher is asked for (-3.13 ...), newest first
CHECK_MODULES = ("torch", "transformers", "peft", "trl", "llama_cpp")
Progress = Callable[[int, int, str], None]


class ProvisionError(Exception):
    """Provisioning failed; the message names the step and what to do."""


@dataclass
class Plan:
    folder: Path
    base_python: Path
    cuda: bool = False
    link: Path | None = None  # an existing site-packages to use instead of installing
    pip_steps: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, pip install arguments)


def load_install_module(source: Path | None = None):
    """install.py (the app's source copy of it, or the one in ``source``): its torch builds, CUDA merge rule and
    package pins."""
    path = (source or app_source_dir()) / "install.py"
    spec = importlib.util.spec_from_file_location("dps_install", path)
    if spec is None or not path.is_file():
        raise ProvisionError(f"install.py is missing from {path.parent}; the app's files are incomplete")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def merged_requirements(install, cuda: bool, folder: Path) -> Path:
    """requirements-ml.txt, or for CUDA that file with requirements-cuda.txt's lines replacing the same packages'
    (install.py's rule, through its own ``requirement_name``), written beside the runtime folder."""
    source = app_source_dir()
    base = (source / "requirements-ml.txt").read_text(encoding="utf-8").splitlines()
    overrides = (source / "requirements-cuda.txt").read_text(encoding="utf-8").splitlines() if cuda else []
    replaced = {install.requirement_name(line) for line in overrides} - {None}
    kept = [line for line in base if install.requirement_name(line) not in replaced]
    # Beside the runtime folder, not in it: provision() starts a half-made runtime folder over from scratch.
    target = folder.parent / f"{folder.name}-requirements.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(kept + overrides) + "\n", encoding="utf-8")
    return target


def default_pip_steps(folder: Path, cuda: bool) -> list[tuple[str, list[str]]]:
    install = load_install_module()
    torch = install.TORCH_CUDA_WINDOWS if cuda and os.name == "nt" else install.TORCH_CPU
    requirements = merged_requirements(install, cuda, folder)
    return [("torch" + (" (CUDA)" if cuda else ""), list(torch)),
            ("the app's and the workers' requirements",
             ["-r", str(app_source_dir() / "requirements.txt"), "-r", str(requirements)]),
            ("the offline embedding model", ["--no-deps", install.EMBEDDER_PACKAGE]),
            ("llama.cpp's Python dependencies", ["diskcache", "jinja2", "typing_extensions", "numpy"])]


def python_version(python: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=60, **no_window()).stdout.split()
        return (int(out[0]), int(out[1])) if len(out) == 2 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def find_base_python(explicit: Path | None = None, *, windows: bool = os.name == "nt") -> Path:
    """A Python >= 3.11 to create the environment from: ``explicit``, this interpreter's base (source runs), on
    Windows the ``py`` launcher's newest, or the first suitable one on PATH (the frozen app has no Python of its own
    that could make a venv). Each candidate's version is asked, not assumed from its name."""
    candidates = iter([explicit]) if explicit else base_python_candidates(windows)
    for candidate in candidates:
        version = python_version(candidate)
        if version and version >= MIN_PYTHON:
            return candidate
    wanted = f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}"
    where = f" at {explicit}" if explicit else " through the py launcher or on PATH" if windows else " on PATH"
    raise ProvisionError(f"no Python {wanted} or newer found{where}; install one (python.org; on Windows tick "
                         f"'Add to PATH') or pass --python PATH")


def base_python_candidates(windows: bool) -> Iterator[Path]:
    """Where a base Python may be, in order; lazily, so that the first suitable one ends the search."""
    if not frozen():
        yield Path(getattr(sys, "_base_executable", sys.executable))
    if windows:  # before PATH: there "python" may be the Microsoft Store's placeholder
        for version in LAUNCHER_VERSIONS:
            if (found := launcher_python(version)) is not None:
                yield found
    yield from (Path(found) for name in PYTHON_NAMES if (found := shutil.which(name)))


def launcher_python(version: str) -> Path | None:
    """The interpreter the Windows ``py`` launcher runs for ``-<version>``; None without a launcher or that
    version."""
    launcher = shutil.which("py")
    if launcher is None:
        return None
    try:
        result = subprocess.run([launcher, f"-{version}", "-c", "import sys; print(sys.executable)"],
                                capture_output=True, text=True, timeout=60, **no_window())
    except (OSError, subprocess.SubprocessError):
        return None
    found = result.stdout.strip()
    return Path(found) if result.returncode == 0 and found else None


def run_logged(argv: list[str], log: Callable[[str], None], what: str) -> None:
    """Run ``argv``, passing each output line to ``log``; a failure names ``what`` and the last line."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, encoding="utf-8", errors="replace")
    last = ""
    for line in process.stdout:
        line = line.rstrip()
        if line:
            last = line
            log(line)
    if process.wait() != 0:
        raise ProvisionError(f"{what} failed (exit {process.returncode}): {last[:300]}")


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise ProvisionError(f"the runtime's Python at {python} does not run: {out.stderr.strip()[-300:]}")
    return Path(out.stdout.strip())


def shipped_llama_cpp() -> Path:
    """The app's llama_cpp package folder (its .py files and lib/ with the shared libraries)."""
    if frozen():
        folder = BUNDLE_ROOT / "llama_cpp"
    else:
        spec = importlib.util.find_spec("llama_cpp")  # not imported: core stays free of the ML stack
        folder = Path(spec.origin).parent if spec and spec.origin else Path()
    if not (folder / "__init__.py").is_file():
        raise ProvisionError(f"the app's llama_cpp package is not at {folder}; the app's files are incomplete")
    return folder


def check_imports(python: Path) -> dict:
    probe = ("import importlib, json; out = {}\n"
             f"for name in {CHECK_MODULES!r}:\n"
             "    out[name] = getattr(importlib.import_module(name), '__version__', '?')\n"
             "import torch; out['cuda_available'] = torch.cuda.is_available()\n"
             "print(json.dumps(out))")
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProvisionError(f"the runtime does not import the training stack: {last[:300]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def provision(plan: Plan, progress: Progress, log: Callable[[str], None] = print) -> dict:
    """Build the runtime described by ``plan``; returns what ``runtime.json`` records."""
    folder = plan.folder
    (folder / MARKER).unlink(missing_ok=True)  # from here on the runtime is incomplete until the end
    steps = ["creating the environment", *(label for label, _ in plan.pip_steps),
             "copying the app's llama.cpp", "checking the training stack"]
    if plan.link is not None:
        steps.insert(1, f"linking {plan.link}")
    total, done = len(steps), 0

    def next_step() -> None:
        nonlocal done
        progress(done, total, steps[done])
        log(f"[{done + 1}/{total}] {steps[done]}")
        done += 1

    next_step()
    if folder.exists() and not venv_python(folder).exists():
        shutil.rmtree(folder)  # something else, or a half-made environment: start over
    folder.mkdir(parents=True, exist_ok=True)
    run_logged([str(plan.base_python), "-m", "venv", str(folder)], log, "creating the environment")
    python = venv_python(folder)
    packages = site_packages(python)
    if plan.link is not None:
        next_step()
        (packages / "dps_linked_environment.pth").write_text(str(plan.link) + "\n", encoding="utf-8")
    for label, args in plan.pip_steps:
        next_step()
        run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                    *args], log, f"installing {label}")
    next_step()
    target = packages / "llama_cpp"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(shipped_llama_cpp(), target, ignore=shutil.ignore_patterns("__pycache__", "server"))
    next_step()
    versions = check_imports(python)
    info = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cuda": plan.cuda,
            "base_python": str(plan.base_python), "linked": str(plan.link) if plan.link else None,
            "versions": versions}
    partial = folder / (MARKER + ".partial")
    partial.write_text(json.dumps(info, indent=2), encoding="utf-8")
    os.replace(partial, folder / MARKER)
    progress(total, total, "ready")
    return info


def status(folder: Path) -> dict:
    runtime = installed_runtime(folder)
    if runtime is None:
        return {"installed": False, "folder": str(folder), "needed": frozen(),
                "note": "source runs use their own environment" if not frozen() else
                "training, export, eval and embed need it (and the memory of the bot and playground): `runtime install`"}
    return {"installed": True, "folder": str(folder), "python": str(runtime.python), **runtime.info}
