"""``dataset-format NAME [--data DIR] [--yes-upload]`` and ``prepare --format NAME``: a prepared dataset in another
trainer's or a hosted service's format (``core.dataset.formats``), in ``DATASET/NAME/``.

A hosted service's files (``openai``) are written only after the owner confirms the sentence naming how many
people's messages will leave the machine (``core.dataset.leaving``): typed ``y`` at the prompt, or ``--yes-upload``
given for scripts (the count is then printed with the result). Without a terminal and without the flag, the command
refuses before it builds anything.
"""
from __future__ import annotations

import sys
from pathlib import Path

from core.cli.base import CommandError, add_command

FORMAT_HELP = ("also write the dataset in this format, in DATASET/FORMAT/: llamafactory or axolotl (another "
               "trainer), openai (OpenAI, Together, Fireworks fine-tuning; asks you to confirm first); chatml: only "
               "our own files")


def add_format_options(parser, *, default: str | None = "chatml") -> None:
    from core.dataset.formats import DEFAULT_HUB_MODEL, FORMATS
    if default is None:
        parser.add_argument("format", choices=[name for name in FORMATS if name != "chatml"], help=FORMAT_HELP)
    else:
        parser.add_argument("--format", default=default, choices=FORMATS, help=FORMAT_HELP)
    parser.add_argument("--yes-upload", action="store_true",
                        help="confirm that the people in the dataset agreed to their messages being sent to a hosted "
                             "fine-tuning service (for scripts; otherwise you are asked)")
    parser.add_argument("--base-model", default=DEFAULT_HUB_MODEL, metavar="HUB_ID|DIR",
                        help=f"the model a trainer config (axolotl) trains on (default: {DEFAULT_HUB_MODEL})")


def register(subparsers) -> None:
    command = add_command(subparsers, "dataset-format", handle_dataset_format, human=human_format,
                          help="write a prepared dataset in another trainer's or a hosted service's format")
    add_format_options(command, default=None)
    command.add_argument("--data", metavar="DIR", help="dataset folder (default: the latest prepared one)")


def check_can_confirm(args) -> None:
    """Refuse early (before a long prepare) when a hosted format could not be confirmed."""
    from core.dataset.formats import HOSTED
    if args.format in HOSTED and not args.yes_upload and not sys.stdin.isatty():
        raise CommandError(f"the {args.format} files are made to be uploaded to a hosted service: pass --yes-upload "
                           f"to confirm the people in the dataset agreed (stdin is not a terminal)", 2)


def confirm_upload(args, data_dir: Path) -> int | None:
    """The number of people whose messages leave, once confirmed; CommandError when the owner says no."""
    from core.dataset.leaving import confirmation_text, people_leaving
    people = people_leaving(data_dir)
    if args.yes_upload:
        return people
    check_can_confirm(args)
    answer = input(f"{confirmation_text(people)} [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError(f"nothing was written for {args.format}; the dataset in {data_dir} is unchanged")
    return people


def export(args, context, data_dir: Path) -> dict:
    """Write ``args.format`` for the dataset at ``data_dir`` (asking first for a hosted format)."""
    from core.dataset import DatasetError
    from core.dataset.formats import HOSTED, ExportOptions, export_format
    options = ExportOptions(training=context.config.training, base_model=args.base_model)
    if args.format in HOSTED:
        options.people = confirm_upload(args, data_dir)
    try:
        result = export_format(context.db, data_dir, args.format, options)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    return {**result, "people": options.people}


def handle_dataset_format(args, context) -> dict:
    from core.dataset.writer import latest_dataset
    folder = Path(args.data).expanduser().resolve() if args.data else latest_dataset(context.workspace.datasets_dir)
    if folder is None:
        raise CommandError("no prepared dataset yet: run `launcher.py prepare` (or pass --data DIR)")
    return export(args, context, folder)


def human_format(result: dict) -> str:
    if not result.get("folders"):
        return "format chatml: the dataset's own files"
    lines = []
    for folder in result["folders"]:
        files = ", ".join(f"{name} {summary['lines']}" for name, summary in folder["files"].items())
        lines.append(f"{result['format']} written to {folder['path']} ({files})")
        if "problems" in folder:
            lines.append(f"  {folder['problems']} lines break a limit of the service" +
                         "".join(f"\n    {line}" for line in folder["problem_lines"]))
    if result.get("people") is not None:
        lines.append(f"these files hold the messages of {result['people']} people")
    return "\n".join(lines)
