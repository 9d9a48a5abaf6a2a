"""``runtime install|status``: the training runtime that the executable's heavy workers run in.

``runtime install [--cuda] [--python PATH] [--link SITE_PACKAGES] [--folder DIR]`` runs the ``runtime`` worker
(``core.runtime.install_worker``) with a progress bar; ``runtime status`` says whether one is installed and what it
holds. Source checkouts do not need one (their .venv is the runtime), but may build one to try the frozen path.
"""
from __future__ import annotations

from pathlib import Path

from core.cli.base import add_command, add_group


def register(subparsers) -> None:
    actions = add_group(subparsers, "runtime", "the training runtime for the executable (torch, transformers, ...)")
    install = add_command(actions, "install", handle_install, human=human_install,
                          help="create the training runtime in the per-user data folder (downloads about 1-3 GB)")
    install.add_argument("--cuda", action="store_true", help="CUDA builds (NVIDIA GPU), as install.py --cuda")
    install.add_argument("--python", type=Path, help="the Python 3.11+ to build it from (default: found on PATH)")
    install.add_argument("--link", type=Path, metavar="SITE_PACKAGES",
                         help="use an existing environment's site-packages instead of installing (developers, CI)")
    install.add_argument("--folder", type=Path, help="where (default: the per-user data folder, or $DPS_RUNTIME_DIR)")
    status = add_command(actions, "status", handle_status, human=human_status, help="is a training runtime installed?")
    status.add_argument("--folder", type=Path, help="which runtime folder to look at")


def handle_install(args, context) -> dict:
    from core.cli.export_commands import run_job
    from core.config.runtime import default_runtime_dir
    from core.jobs.specs import new_job_dir
    folder = (args.folder or default_runtime_dir()).resolve()
    context.say(f"installing the training runtime into {folder}")
    worker_args = ["--folder", str(folder)] + (["--cuda"] if args.cuda else [])
    worker_args += ["--python", str(args.python)] if args.python else []
    worker_args += ["--link", str(args.link)] if args.link else []
    result = run_job(context, "runtime", worker_args, new_job_dir(context.workspace.logs_dir, "runtime"))
    return {"folder": str(folder), **result}


def human_install(result: dict) -> str:
    versions = result.get("versions", {})
    shown = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "cuda_available")
    return f"training runtime ready in {result['folder']}: {shown} (CUDA available: {versions.get('cuda_available')})"


def handle_status(args, context) -> dict:
    from core.config.runtime import default_runtime_dir
    from core.runtime.provision import status
    return status((args.folder or default_runtime_dir()).resolve())


def human_status(result: dict) -> str:
    if not result["installed"]:
        return f"no training runtime in {result['folder']} ({result['note']})"
    return f"training runtime in {result['folder']}: {result.get('versions', {})}"
