"""Command ``embed [--json] [--batch-size N]``: stored messages into the bot's memory, as a worker job.

The worker (``launcher.py --worker embed``) embeds only what is not in the memory yet, so a second run embeds
nothing new; the result names ``embedded, skipped, seconds`` and the details (skips by reason, rows, index).
"""
from __future__ import annotations

from core.cli.base import CommandError, add_command
from core.cli.export_commands import run_job


def register(subparsers) -> None:
    embed = add_command(subparsers, "embed", handle_embed, human=human_embed,
                        help="embed stored messages not in the bot's memory yet (opted-out users, bots and system "
                             "messages are never embedded)")
    embed.add_argument("--batch-size", type=int, metavar="N", help="messages per batch (default [memory] batch_size)")


def check_settings(settings) -> None:
    if not 0.0 <= settings.recency_weight <= 1.0:
        raise CommandError(f"[memory] recency_weight must be between 0 and 1, not {settings.recency_weight}")
    if settings.top_k < 1 or settings.batch_size < 1 or settings.index_threshold < 0:
        raise CommandError("[memory] top_k and batch_size must be at least 1 and index_threshold 0 or more")


def handle_embed(args, context) -> dict:
    from core.memory.jobs import job_dir
    check_settings(context.config.memory)
    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError("--batch-size must be at least 1", exit_code=2)
    worker_args = ["--workspace", str(context.workspace.root)]
    if args.batch_size:
        worker_args += ["--batch-size", str(args.batch_size)]
    context.say(f"embedding new messages into {context.workspace.memory_dir}")
    return run_job(context, "embed", worker_args, job_dir(context.workspace))


def human_embed(result: dict) -> str:
    reasons = ", ".join(f"{count} {reason}" for reason, count in result.get("skipped_by_reason", {}).items() if count)
    lines = [f"embedded {result['embedded']} new messages in {result['seconds']} s "
             f"({result['already_embedded']} were already in memory; {result['rows']} rows now)",
             f"skipped {result['skipped']}" + (f": {reasons}" if reasons else "")]
    if result.get("removed_opted_out"):
        lines.append(f"removed {result['removed_opted_out']} memories of opted-out users")
    if result.get("index") and result["index"] != "none":
        lines.append(f"vector index {result['index']}")
    if result.get("stopped_early"):
        lines.insert(0, "stopped early: what was embedded so far is kept")
    return "\n".join(lines)
