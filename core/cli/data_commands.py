"""The data commands: ``import PATH...`` (DiscordChatExporter exports) and ``stats``."""
from __future__ import annotations

from pathlib import Path

from core.cli.base import CommandError, Context, add_command


def register(subparsers) -> None:
    parser = add_command(subparsers, "import", run_import, human=describe_import,
                         help="import DiscordChatExporter exports: JSON or CSV files, folders, .zip archives")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="export file, folder or .zip archive")
    parser.add_argument("--csv-timezone", metavar="ZONE", default=None,
                        help="timezone of CSV dates written without one (DCE before 2.42.3 wrote the exporting "
                             "machine's local time): an IANA name like Europe/Berlin, UTC or +02:00; "
                             "default: this machine's")
    add_command(subparsers, "stats", run_stats, human=describe_stats,
                help="counts of the stored history: messages, authors, channels, replies, top authors")


def run_import(args, context: Context) -> dict:
    from core.ingest.dce_csv import parse_timezone
    from core.ingest.importer import import_paths

    try:
        zone = parse_timezone(args.csv_timezone)
    except ValueError as exc:
        raise CommandError(f"--csv-timezone: {exc}") from None
    with context.progress(total=0, description="import", unit="B") as bar:
        bar.unit_scale = True  # bytes of export read: kB, MB, GB
        def on_progress(event) -> None:
            bar.total = event.bytes_total
            bar.set_postfix_str(f"{event.messages_seen} messages", refresh=False)
            bar.update(event.bytes_done - bar.n)

        report = import_paths(context.db, args.paths, on_progress=on_progress, csv_timezone=zone)
    for line in report.errors:
        context.say(f"error: {line}")
    for line in report.warnings:
        context.say(f"warning: {line}")
    result = report.as_dict()
    if report.errors:
        # the summary still goes out (one JSON object with --json), then the failure line and exit 1
        from core.cli import emit_result
        emit_result(args, result)
        raise CommandError(f"{len(report.errors)} input(s) could not be imported (listed above); "
                           f"the good files were imported")
    return result


def describe_import(result: dict) -> str:
    return (f"read {result['files']} files in {result['seconds']:.1f} s: {result['messages_seen']} messages read, "
            f"{result['messages_new']} new, {result['messages_updated']} updated, {result['skipped']} skipped; "
            f"{result['channels']} channels, {result['authors']} authors"
            + (f"; {result['conflicts']} left as stored (another author under the same id)"
               if result.get("conflicts") else "")
            + (f"; {result['withheld']} withheld (forgotten people's)"
               if result.get("withheld") else ""))


def run_stats(args, context: Context) -> dict:
    from storage.stats import collect_stats
    return collect_stats(context.db)


def describe_stats(result: dict) -> str:
    lines = [f"messages:          {result['messages']}",
             f"authors:           {result['authors']} ({result['bots']} bots)",
             f"channels:          {result['channels']}",
             f"replies:           {result['replies']} "
             f"({result['replies_resolved']} with the replied-to message stored)",
             f"reactions:         {result['reactions']} on {result['reacted_messages']} messages",
             f"date range:        {result['first'] or '-'} .. {result['last'] or '-'}"]
    if result["top_authors"]:
        lines.append("top authors:")
        width = max(len(str(author["messages"])) for author in result["top_authors"])
        lines += [f"  {author['messages']:>{width}}  {author['name']} ({author['id']})"
                  for author in result["top_authors"]]
    return "\n".join(lines)
