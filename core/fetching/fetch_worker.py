"""``launcher.py --worker fetch --workspace DIR [--channel ID...]``: ``fetch`` as a worker job.

The token is the first line of stdin (read before the control thread starts reading requests there). The work is
the same ``Fetcher`` over the same configuration as the ``fetch`` command, so both store the same rows. Progress is
one ProgressReported per page written (step = messages fetched so far; throttled); a stop is honoured after the page
being written is committed with its checkpoint, or between channels: a later fetch resumes from there.

Test hook (tests only): ``DPS_TEST_DISCORD_CLIENT=tests.module:function`` makes the worker use that function as its
Discord client factory (the fake in tests/fakes_discord.py); a module outside ``tests.`` is refused.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from core.jobs.worker_kit import BadInput, Cancelled, WorkerKit

TEST_CLIENT_ENV = "DPS_TEST_DISCORD_CLIENT"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py --worker fetch")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--channel", type=int, nargs="+", action="extend", help="instead of the allowlist")
    return parser.parse_args(argv)


def read_token() -> str:
    """The first stdin line; must run before ``wire.link()``, whose control thread then owns stdin."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():  # started by hand: ask without echo
            import getpass
            return getpass.getpass("Discord bot token (input hidden): ").strip()
        return (sys.stdin.readline() if sys.stdin else "").strip()
    except (OSError, ValueError, EOFError):
        return ""


def install_test_client() -> None:
    spec = os.environ.get(TEST_CLIENT_ENV, "")
    if not spec:
        return
    module_name, _, function = spec.partition(":")
    if not module_name.startswith("tests.") or not function:
        raise BadInput(f"{TEST_CLIENT_ENV} is a test hook; it takes tests.MODULE:FUNCTION")
    from core.fetching import discord_source
    discord_source.CLIENT_FACTORY = getattr(importlib.import_module(module_name), function)


def main(argv: list[str]) -> int:
    args = parse(argv)
    token = read_token()
    kit = WorkerKit("fetch")

    def work() -> dict:
        from core.config.app_config import load_config
        from core.config.secrets import register_secret
        from core.config.workspace import Workspace
        from storage.channels import allowlisted_ids
        from core.fetching.jobs import NO_TOKEN
        if not token:
            raise BadInput(NO_TOKEN)
        register_secret(token)  # from here on every log record and kit.say line is redacted
        workspace = Workspace.open(args.workspace)
        config = load_config(workspace.config_path).fetch
        conn = workspace.connect()
        channel_ids = args.channel or allowlisted_ids(conn)
        if not channel_ids:
            raise BadInput("no channels to fetch: allowlist some with `launcher.py channels add ID ...` "
                           "or pass --channel ID")
        install_test_client()
        kit.started_event(channels=len(channel_ids))
        kit.check_stop()
        return fetch(kit, token, conn, config, channel_ids)

    from core.config.strict import ConfigError
    from core.fetching.fetch import SourceError
    from storage.db import DatabaseError
    return kit.run(work, expected=(SourceError, ConfigError, DatabaseError), what="the fetch",
                   advice="check the bot token and the channel permissions")


def fetch(kit: WorkerKit, token: str, conn, config, channel_ids: list[int]) -> dict:
    from core.fetching.discord_source import open_source
    from core.fetching.fetch import Fetcher
    fetchers: list[Fetcher] = []

    def on_progress(event) -> None:
        kit.progress(event.total_messages, None, f"#{event.channel_name}", messages_seen=event.total_messages)

    def on_notice(line: str) -> None:  # after a channel, before a retry wait: a stop is honoured here too
        kit.say(line)
        kit.check_stop()

    async def run():
        async with open_source(token, on_notice=kit.say) as source:
            fetcher = Fetcher(conn, source, config, on_progress=on_progress, on_notice=on_notice)
            fetchers.append(fetcher)
            return await fetcher.run(channel_ids)

    try:
        return asyncio.run(run()).as_dict()
    except Cancelled:
        raise Cancelled(fetchers[0].summary.as_dict() if fetchers else {}) from None
