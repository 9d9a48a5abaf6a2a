"""The command line: ``python launcher.py [--workspace DIR] [--debug] COMMAND [options]``.

Conventions every command follows:
- data commands take ``--json`` and then print exactly one JSON object on stdout; progress goes to stderr;
- exit 0 on success, 1 on failure with a one-line message on stderr (the traceback only with ``--debug``),
  2 on usage errors;
- long jobs show a progress bar when stderr is a terminal.
Commands live in the modules listed in COMMAND_MODULES; each has ``register(subparsers)`` and handlers that take
``(args, context)`` and return a dict (the JSON result) — see ``core.cli.base``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from core.cli.base import CommandError, Context, add_common_options

COMMAND_MODULES = (
    "core.cli.data_commands",      # import, stats
    "core.cli.fetch_commands",     # fetch, token, channels
    "core.cli.dataset_commands",   # personas, prepare, preview
    "core.cli.format_command",     # dataset-format
    "core.cli.train_commands",     # train, runs
    "core.cli.export_commands",    # export, eval
    "core.cli.memory_commands",    # embed
    "core.cli.chat_command",       # chat (the reply playground)
    "core.cli.demo_command",       # demo
    "core.cli.runtime_command",    # runtime install|status (the executable's training runtime)
)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2; a token typed as an argument is not echoed
        from core.config.secrets import redact
        self.exit(2, f"{self.prog}: error: {redact(message)}\n")


def build_parser(extra_command_modules: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The parser; ``extra_command_modules`` are command groups from layers above core (``launcher.py`` passes
    ``bot_controller.cli``), imported by name so that core never imports them."""
    parser = ArgumentParser(prog="launcher.py", description="Discord Persona Studio")
    add_common_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module_name in (*COMMAND_MODULES, *extra_command_modules):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command group not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None, extra_command_modules: tuple[str, ...] = ()) -> int:
    parser = build_parser(extra_command_modules)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    debug = getattr(args, "debug", False)
    try:
        context = Context.from_args(args)
        result = args.handler(args, context)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except CommandError as exc:
        if debug:
            print_traceback()
        from core.config.secrets import redact
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # anything unexpected still ends in one clear line
        if debug:
            print_traceback()
        from core.config.secrets import redact
        message = redact(" ".join(str(exc).split())) or type(exc).__name__
        print(f"error: {type(exc).__name__}: {message} (run with --debug for details)", file=sys.stderr)
        return 1
    emit_result(args, result)
    return 0


def print_traceback() -> None:
    """The current exception's traceback on stderr, with the bot token (and anything shaped like one) redacted:
    exception messages and frames' source lines can carry it."""
    from core.config.secrets import redact
    sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.flush()


def emit_result(args, result) -> None:
    if result is None:
        return
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    else:
        human = getattr(args, "human", None)
        text = human(result) if human else "\n".join(f"{key}: {value}" for key, value in result.items())
        if text:
            print(text)
    sys.stdout.flush()
