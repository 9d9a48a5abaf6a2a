"""``launcher.py --worker import --workspace DIR [--options JSON] -- PATH...``: the import as a worker job.

The same ``import_paths`` the ``import`` command runs in-process, so both store the same rows. Progress is one
ProgressReported per batch written (step = bytes read, total = bytes of all files; throttled); a stop is honoured
after the batch being written is committed: what was imported stays, and importing again completes it exactly.
A file that cannot be imported is a log line and an entry in the result's ``errors``; the job still finishes (the
good files were imported), as the command prints its summary before its error line.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.jobs.worker_kit import BadInput, WorkerKit, bind_options


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py --worker import")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--options", default="{}", help="keyword options for import_paths, as a JSON object")
    parser.add_argument("paths", nargs="+", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    kit = WorkerKit("import")
    try:
        options = json.loads(args.options)
    except ValueError:
        options = None

    def on_progress(event) -> None:
        kit.progress(event.bytes_done, event.bytes_total, event.file, files_done=event.files_done,
                     files_total=event.files_total, messages_seen=event.messages_seen, bytes_done=event.bytes_done)

    def work() -> dict:
        from core.config.workspace import Workspace
        from core.ingest.importer import import_paths
        if not isinstance(options, dict):
            raise BadInput(f"--options must be a JSON object, not {args.options!r}")
        bind_options(import_paths, None, args.paths, on_progress=on_progress, **options)
        conn = Workspace.open(args.workspace).connect()
        kit.started_event(paths=len(args.paths))
        kit.check_stop()
        report = import_paths(conn, args.paths, on_progress=on_progress, **options)
        for line in report.errors:
            kit.say(f"error: {line}")
        for line in report.warnings:
            kit.say(f"warning: {line}")
        return report.as_dict()

    from storage.db import DatabaseError
    return kit.run(work, expected=(DatabaseError,), what="the import",
                   advice="check the export files named in the log")
