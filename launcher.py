"""Discord Persona Studio entry point.

``python launcher.py`` (no command; ``--workspace DIR`` allowed) opens the control panel (``gui.app``);
``python launcher.py COMMAND ...`` runs the command line (``core.cli``); ``python launcher.py --worker NAME ...``
runs a worker process (training, export, evaluation; the light import, prepare and fetch jobs) — frozen builds
re-launch their own executable that way, and hand the heavy workers to the training runtime (``core.config.runtime``);
``python launcher.py --self-test`` opens the panel and checks an import and a playground reply (``gui.self_test``).
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import sys

# Worker name -> module with ``main(argv) -> int``. Imported only in the worker process: the ML stack never loads
# in the GUI or CLI process.
WORKERS = {
    "train": "model.train_worker",
    "export": "model.export_worker",
    "eval": "model.eval_worker",
    "import": "core.ingest.import_worker",      # the light workers: no ML stack, same code as the CLI commands
    "prepare": "core.dataset.prepare_worker",
    "fetch": "core.fetching.fetch_worker",
    "bot": "bot_controller.bot.main",         # the Discord bot, supervised by bot_controller.controller
    "embed": "model.embed_worker",
    "chat": "model.chat_worker",            # the reply pipeline without Discord (`launcher.py chat`)
    "convert": "model.convert_worker",      # llama.cpp's GGUF converter, started by the export worker
    "runtime": "core.runtime.install_worker",  # provisions the training runtime (`launcher.py runtime install`)
    "cloud-train": "core.training.cloud_worker",  # a run on a rented GPU through SkyPilot's `sky` (`train --cloud`)
    "cloud-stamp": "core.training.cloud_stamp",   # on the rented machine: numbers the train worker's output lines
}
# Command groups from the layers above core (core never imports them, not even by name): ``bot`` runs the bot under
# its supervisor in the foreground.
APP_COMMAND_MODULES = ("bot_controller.cli",)


def run_worker(argv: list[str]) -> int:
    if not argv or argv[0] not in WORKERS:
        print(f"error: unknown worker {argv[0] if argv else '(none)'}; known: {', '.join(WORKERS)}", file=sys.stderr)
        return 2
    if getattr(sys, "frozen", False):
        from core.config.runtime import HEAVY_WORKERS
        if argv[0] in HEAVY_WORKERS:  # the executable has no torch: hand over to the training runtime
            return run_in_runtime(argv[0], argv[1:])
    module = importlib.import_module(WORKERS[argv[0]])
    return module.main(argv[1:])


def run_in_runtime(name: str, argv: list[str]) -> int:
    """A heavy worker started as ``DiscordPersonaStudio --worker NAME``: the same worker in the training runtime's
    Python (stdin, stdout and the environment pass through), or one clear failure when no runtime is installed."""
    import subprocess
    from core.config.runtime import runtime_missing_message, runtime_worker_prefix
    prefix = runtime_worker_prefix(name)
    if prefix is None:
        from core.jobs import wire
        from core.jobs.events import JobFailed
        message = runtime_missing_message(name)
        print(f"error: {message}", file=sys.stderr, flush=True)
        wire.link().emit(JobFailed(message=message, advice="install the training runtime", exit_code=1))
        return 1
    command = [*prefix, "--worker", name, *argv]
    if os.name != "nt":
        os.execv(command[0], command)  # same process: the runner's stop, terminate and kill reach the worker
    return subprocess.call(command)  # Windows has no exec: wait for it (the runner kills the whole tree)


def export_bundle_locations() -> None:
    """Frozen: the runtime's workers run the source copy in _internal/app, so tell them (through the environment
    they inherit) where the executable's converter and base model are, and undo PyInstaller's library path, which
    must not leak into another Python."""
    if not getattr(sys, "frozen", False):
        return
    from core.config.resources import DEFAULT_BASE_MODEL_FILE, THIRD_PARTY
    os.environ.setdefault("DPS_LLAMA_CPP_DIR", str(THIRD_PARTY / "llama.cpp"))
    os.environ.setdefault("DPS_BASE_MODEL", str(THIRD_PARTY / "models" / DEFAULT_BASE_MODEL_FILE))
    for variable in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
        original = os.environ.pop(variable + "_ORIG", None)
        if original is not None:
            os.environ[variable] = original
        elif variable in os.environ and getattr(sys, "_MEIPASS", "") in os.environ[variable]:
            del os.environ[variable]


PANEL_OPTIONS = ("--workspace", "--no-tray")  # with no command, these still open the control panel


def opens_panel(argv: list[str]) -> bool:
    """No command (only panel options): ``python launcher.py [--workspace DIR]`` opens the control panel."""
    index = 0
    while index < len(argv):
        option = argv[index].split("=", 1)[0]
        if option not in PANEL_OPTIONS:
            return False
        index += 2 if option == "--workspace" and "=" not in argv[index] else 1
    return True


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # first: a frozen child started by multiprocessing must not run the app
    argv = sys.argv[1:] if argv is None else argv
    export_bundle_locations()
    for stream in (sys.stdout, sys.stderr):  # emoji in Discord text must not crash a Windows console
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    if argv and argv[0] == "--worker":
        return run_worker(argv[1:])
    if "--self-test" in argv:  # `--self-test [--workspace DIR]`, in either order
        from gui.self_test import main as self_test_main
        return self_test_main([arg for arg in argv if arg != "--self-test"])
    if opens_panel(argv):
        from gui.app import main as panel_main
        return panel_main(argv)
    from core.cli import main as cli_main
    return cli_main(argv, extra_command_modules=APP_COMMAND_MODULES)


if __name__ == "__main__":
    sys.exit(main())
