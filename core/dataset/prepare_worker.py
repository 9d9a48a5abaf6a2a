"""``launcher.py --worker prepare --workspace DIR [options]``: ``prepare`` as a worker job.

It calls the same ``prepare_dataset`` with the same configuration as the ``prepare`` command, so the files are
the same; ``--format`` writes a trainer's format after it (``core.dataset.formats``; a hosted service's format needs
the owner's confirmation first and is written by ``dataset-format``). Progress is one ProgressReported per block of
PROGRESS_EVERY messages read (step = messages read, total = messages stored). A stop is honoured at the next block:
the staging folder is removed and the folder keeps whatever complete dataset it had before (a dataset is published
whole or not at all). The result is ``out`` plus the stats.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from core.jobs.worker_kit import WorkerKit

PROGRESS_EVERY = 1 << 12  # messages between progress reports (and stop checks): a stop lands within a moment


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py --worker prepare")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--personas", default="all")
    parser.add_argument("--strategy", default="multi")
    parser.add_argument("--min-messages", type=int)
    parser.add_argument("--split-by")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--format", default="chatml")  # a trainer's format; never a hosted one (it needs a yes)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    kit = WorkerKit("prepare")

    def work() -> dict:
        from core.config.app_config import load_config
        from core.config.workspace import Workspace
        from core.dataset import DatasetError, formats, pipeline
        if args.format in formats.HOSTED:
            raise DatasetError(f"the {args.format} files are written after the owner confirms who leaves the "
                               f"machine: `launcher.py dataset-format {args.format}`, not the prepare worker")
        from core.dataset.writer import new_dataset_dir, set_latest
        workspace = Workspace.open(args.workspace)
        changes = {key: value for key, value in (("min_messages", args.min_messages), ("split_by", args.split_by),
                                                 ("seed", args.seed)) if value is not None}
        app_config = load_config(workspace.config_path)
        config = dataclasses.replace(app_config.dataset, **changes)
        out_dir = args.out.expanduser().resolve() if args.out else new_dataset_dir(workspace.datasets_dir)
        conn = workspace.connect()
        if hasattr(pipeline, "PROGRESS_EVERY"):
            pipeline.PROGRESS_EVERY = PROGRESS_EVERY  # finer than the command's: the panel shows it, a stop waits
        kit.started_event(out=str(out_dir))
        kit.check_stop()
        stats = pipeline.prepare_dataset(
            conn, config, out_dir, personas=args.personas, strategy=args.strategy,
            on_progress=lambda read, total: kit.progress(read, total, "prepare", messages_read=read))
        if not args.out:
            set_latest(workspace.datasets_dir, out_dir)
        options = formats.ExportOptions(training=app_config.training)
        exported = formats.export_format(conn, out_dir, args.format, options)
        return {"out": str(out_dir), **stats, "exported": exported}

    from core.config.strict import ConfigError
    from core.dataset import DatasetError
    from storage.db import DatabaseError
    return kit.run(work, expected=(DatasetError, ConfigError, DatabaseError), what="prepare",
                   advice="check the options and dataset settings named in the message")
