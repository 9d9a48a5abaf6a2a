"""Shared pieces of every CLI command: the context (workspace, config), errors, options, progress."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cached_property

from core.config.app_config import AppConfig, load_config
from core.config.strict import ConfigError
from core.config.workspace import Workspace


class CommandError(Exception):
    """A failure to report as one line on stderr; exit code 1 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def add_common_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--workspace`` and ``--debug``, accepted before or after the command name."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--workspace", metavar="DIR", default=default,
                        help="workspace folder (default: the per-user data folder, or $DPS_WORKSPACE)")
    parser.add_argument("--debug", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="show tracebacks on errors")


def add_command(subparsers, name: str, handler, *, help: str, json_output: bool = True, human=None):
    """Register a subcommand; returns its parser for command-specific options."""
    parser = subparsers.add_parser(name, help=help, description=help)
    add_common_options(parser)
    if json_output:
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(handler=handler, human=human)
    return parser


def add_group(subparsers, name: str, help: str):
    """A command with sub-actions (``token set``, ``personas list``); the bare group name is a usage error."""
    parser = subparsers.add_parser(name, help=help, description=help)
    add_common_options(parser)
    actions = parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    return actions


@dataclass
class Context:
    workspace: Workspace
    json_mode: bool
    debug: bool

    @classmethod
    def from_args(cls, args) -> "Context":
        context = cls(Workspace.open(args.workspace), bool(getattr(args, "json", False)), bool(args.debug))
        context.config  # a broken config.toml is reported by every command, before any work starts
        return context

    @cached_property
    def config(self) -> AppConfig:
        try:
            return load_config(self.workspace.config_path)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None

    @cached_property
    def db(self):
        from storage.db import DatabaseError, connect
        try:
            return connect(self.workspace.database_path)
        except DatabaseError as exc:
            raise CommandError(str(exc)) from None

    def progress(self, total: int | None = None, description: str = "", unit: str = "it"):
        """A progress bar on stderr when it is a terminal; a silent stand-in otherwise."""
        from tqdm import tqdm
        return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(),
                    dynamic_ncols=True, leave=False)

    def say(self, text: str) -> None:
        """A human status line: on stderr, so that ``--json`` output stays one object on stdout."""
        print(text, file=sys.stderr, flush=True)
