"""Commands for the live Discord side: ``fetch``, ``token set|status|delete``, ``channels list|add|remove``.

The token is read from a no-echo prompt or from stdin (never argv), kept in memory, and redacted from every line
these commands print or log.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import traceback

from core.cli.base import CommandError, add_command, add_group
from core.config.secrets import (TOKEN_ENV, SecretError, delete_token, get_token, keyring_available, keyring_backend_name,
                          redact, set_token, token_source)

NO_TOKEN = f"no bot token: run `launcher.py token set` or set {TOKEN_ENV}"
PROGRESS_LINE_EVERY = 1000  # messages between stderr progress lines when stderr is not a terminal


def snowflake_arg(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"not a Discord channel id: {text!r}")
    return int(text)


def register(subparsers) -> None:
    fetch = add_command(subparsers, "fetch", handle_fetch, human=human_fetch,
                        help="fetch new and older messages of the allowlisted channels (and their threads)")
    fetch.add_argument("--channel", metavar="ID", type=snowflake_arg, nargs="+", action="extend",
                       help="fetch these channels or threads instead of the allowlist")
    token = add_group(subparsers, "token", "store, check or delete the bot token (kept in the OS keyring)")
    add_command(token, "set", handle_token_set,
                help="store the bot token: prompts without echo, or reads one line from stdin when piped")
    add_command(token, "status", handle_token_status, help="say whether a token is available and where from")
    add_command(token, "delete", handle_token_delete, help="remove the token from the OS keyring")
    channels = add_group(subparsers, "channels", "list the channels and manage the fetch allowlist")
    listing = add_command(channels, "list", handle_channels_list, human=human_channels,
                          help="channels the bot can read (live) merged with the stored ones")
    listing.add_argument("--offline", action="store_true", help="only the stored channels; do not contact Discord")
    for name, handler, verb in (("add", handle_channels_add, "add channels to"),
                                ("remove", handle_channels_remove, "remove channels from")):
        parser = add_command(channels, name, handler, help=f"{verb} the fetch allowlist")
        parser.add_argument("ids", metavar="ID", type=snowflake_arg, nargs="+")
        if name == "add":
            parser.add_argument("--offline", action="store_true",
                                help="do not look unknown ids up on Discord")


def require_token() -> str:
    token = get_token()
    if not token:
        raise CommandError(NO_TOKEN)
    return token


def run_with_source(token: str, context, work):
    """Run ``work(source)`` against Discord; every failure becomes one redacted line."""
    from core.fetching.discord_source import open_source
    from core.fetching.fetch import SourceError

    async def main():
        async with open_source(token, on_notice=context.say) as source:
            return await work(source)

    try:
        return asyncio.run(main())
    except (CommandError, KeyboardInterrupt):
        raise
    except SourceError as exc:
        raise CommandError(redact(str(exc))) from None
    except Exception as exc:
        if context.debug:
            context.say(redact(traceback.format_exc()))
        message = redact(" ".join(str(exc).split()) or type(exc).__name__)
        raise CommandError(f"{type(exc).__name__}: {message}") from None


# --- token -----------------------------------------------------------------------------------------------------

def read_token() -> str:
    stream = sys.stdin
    if stream is not None and not stream.isatty():  # piped: `echo $T | launcher.py token set`
        return stream.readline()
    return getpass.getpass("Discord bot token (input hidden): ")


def handle_token_set(args, context) -> dict:
    try:
        set_token(read_token())
    except SecretError as exc:
        raise CommandError(str(exc)) from None
    if os.environ.get(TOKEN_ENV):
        context.say(f"note: {TOKEN_ENV} is also set; the keyring token is used first")
    return {"stored": True, "backend": keyring_backend_name()}


def handle_token_status(args, context) -> dict:
    return {"available": token_source() is not None, "source": token_source(),
            "keyring_available": keyring_available(), "backend": keyring_backend_name()}


def handle_token_delete(args, context) -> dict:
    try:
        deleted = delete_token()
    except SecretError as exc:
        raise CommandError(str(exc)) from None
    if os.environ.get(TOKEN_ENV):
        context.say(f"note: {TOKEN_ENV} is still set in this environment")
    return {"deleted": deleted}


# --- fetch -----------------------------------------------------------------------------------------------------

def handle_fetch(args, context) -> dict:
    from core.fetching.fetch import Fetcher
    from storage.channels import allowlisted_ids
    token = require_token()
    config, conn = context.config.fetch, context.db
    channel_ids = args.channel or allowlisted_ids(conn)
    if not channel_ids:
        raise CommandError("no channels to fetch: allowlist some with `launcher.py channels add ID ...` "
                           "or pass --channel ID")
    bar = context.progress(description="fetch", unit="msg")
    reporter = ProgressReporter(bar, context)
    try:
        summary = run_with_source(token, context, lambda source: Fetcher(
            conn, source, config, on_progress=reporter.progress, on_notice=reporter.notice).run(channel_ids))
    finally:
        bar.close()
    return summary.as_dict()


class ProgressReporter:
    """A progress bar on a terminal; otherwise a stderr line every PROGRESS_LINE_EVERY messages."""

    def __init__(self, bar, context):
        self.bar, self.context = bar, context
        self.shown = 0

    def progress(self, event) -> None:
        self.bar.set_description_str(f"#{event.channel_name}"[:30], refresh=False)
        self.bar.update(event.total_messages - self.shown)
        if self.bar.disable and event.total_messages // PROGRESS_LINE_EVERY > self.shown // PROGRESS_LINE_EVERY:
            self.context.say(f"#{event.channel_name}: {event.channel_messages} fetched "
                             f"({event.total_messages} in all, {event.messages_per_second:.0f} messages/s)")
        self.shown = event.total_messages

    def notice(self, line: str) -> None:
        if self.bar.disable:
            self.context.say(redact(line))
        else:
            self.bar.write(redact(line), file=sys.stderr)


def human_fetch(result: dict) -> str:
    lines = [f"fetched {result['channels']} channels and {result['threads']} threads: "
             f"{result['messages_new']} new, {result['messages_updated']} updated messages "
             f"in {result['seconds']:.1f} s"
             + (f"; {result['messages_withheld']} withheld (forgotten people's)"
                if result.get("messages_withheld") else "")]
    lines += [f"skipped {item['name'] or item['channel_id']}: {item['reason']}" for item in result["skipped"]]
    return "\n".join(lines)


# --- channels --------------------------------------------------------------------------------------------------

def handle_channels_list(args, context) -> dict:
    from core.fetching.channel_listing import merge_listing
    from storage.channels import stored_channels
    live = None
    if not args.offline:
        token = get_token()
        if not token:
            raise CommandError(NO_TOKEN + " (or pass --offline for the stored channels only)")
        live = run_with_source(token, context, lambda source: source.list_channels())
    return {"live": live is not None, "channels": merge_listing(stored_channels(context.db), live)}


def human_channels(result: dict) -> str:
    lines = []
    for entry in result["channels"]:
        mark = "[x]" if entry["allowlisted"] else "[ ]"
        readable = {True: "", False: "  (not readable)", None: ""}[entry["readable"]]
        backfill = "complete" if entry["backfill_complete"] else "partial" if entry["messages"] else "not fetched"
        place = f"{entry['guild'] or entry['guild_id']} / {entry['category'] + ' / ' if entry['category'] else ''}"
        lines.append(f"{mark} {entry['id']}  {place}#{entry['name']}  {entry['kind']}  "
                     f"{entry['messages']} messages, history {backfill}{readable}")
    return "\n".join(lines) or "no channels (run without --offline to list the bot's channels)"


def handle_channels_add(args, context) -> dict:
    from core.fetching.channel_listing import store_live_channels
    from storage.channels import known_ids, set_allowlisted
    conn = context.db
    known = known_ids(conn, args.ids)
    unknown = [channel_id for channel_id in args.ids if channel_id not in known]
    if unknown and not args.offline:
        token = get_token()
        if not token:
            raise CommandError(f"channel {unknown[0]} is not stored; store a bot token (`launcher.py token set`) "
                               f"so it can be looked up, or import or fetch it first")
        found = run_with_source(token, context, lambda source: store_live_channels(conn, source, unknown))
        for channel in found:
            if channel.readable is False:
                context.say(f"warning: the bot may not read #{channel.row.name} ({channel.row.id})")
    try:
        changed = set_allowlisted(conn, args.ids, True)
    except KeyError as exc:
        raise CommandError(f"channel {exc.args[0]} is not known: it is neither stored nor visible to the bot"
                           + (" (looked up offline only)" if args.offline else "")) from None
    return {"allowlisted": args.ids, "changed": changed}


def handle_channels_remove(args, context) -> dict:
    from storage.channels import set_allowlisted
    try:
        changed = set_allowlisted(context.db, args.ids, False)
    except KeyError as exc:
        raise CommandError(f"channel {exc.args[0]} is not stored") from None
    return {"removed": args.ids, "changed": changed}
