"""Discord Persona Studio entry point.

``python launcher.py`` (no command; ``--workspace DIR`` allowed) opens the control panel (``gui.app``);
``python launcher.py COMMAND ...`` runs the command line (``core.cli``); ``python launcher.py --worker NAME ...``
runs a worker process (training, export, evaluation; the light import, prepare and fetch jobs) — frozen builds
re-launch their own executable that way.
"""
from __future__ import annotations

import importlib
import sys

# Worker name -> module with ``main(argv) -> int``. Imported only in the worker process: the ML stack never loads
# in the GUI or CLI process.
WORKERS = {
    "train": "model.train_worker",
    "export": "model.export_worker",
    "eval": "model.eval_worker",
    "bot": "bot_controller.bot.main",         # the Discord bot, supervised by bot_controller.controller
    "import": "core.ingest.import_worker",      # the light workers: no ML stack, same code as the CLI commands
    "prepare": "core.dataset.prepare_worker",
    "fetch": "core.fetching.fetch_worker",
    "embed": "model.embed_worker",
    "chat": "model.chat_worker",            # the reply pipeline without Discord (`launcher.py chat`)
}
# Command groups from the layers above core (core never imports them, not even by name): ``bot`` runs the bot under
# its supervisor in the foreground.
APP_COMMAND_MODULES = ("bot_controller.cli",)


def run_worker(argv: list[str]) -> int:
    if not argv or argv[0] not in WORKERS:
        print(f"error: unknown worker {argv[0] if argv else '(none)'}; known: {', '.join(WORKERS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(WORKERS[argv[0]])
    return module.main(argv[1:])


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
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # emoji in Discord text must not crash a Windows console
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    if argv and argv[0] == "--worker":
        return run_worker(argv[1:])
    if opens_panel(argv):
        from gui.app import main as panel_main
        return panel_main(argv)
    from core.cli import main as cli_main
    return cli_main(argv, extra_command_modules=APP_COMMAND_MODULES)


if __name__ == "__main__":
    sys.exit(main())
