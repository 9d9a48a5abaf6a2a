"""The fake Discord server for worker subprocesses (the fetch worker's test hook, see core/fetching/fetch_worker.py).

``client()`` is what ``DPS_TEST_DISCORD_CLIENT=tests.discord_fake_client:client`` names: each call builds the same
server from scratch (snowflake counter reset), so a test process and a worker process see identical ids and
messages. The size and a per-page delay come from the environment, so a test can ask for many, slow pages (to
stop a fetch between them).
"""
from __future__ import annotations

import asyncio
import itertools
import os

from tests import fakes_discord

MESSAGES_ENV = "DPS_TEST_DISCORD_MESSAGES"
PAGE_SECONDS_ENV = "DPS_TEST_DISCORD_PAGE_SECONDS"


def server():
    fakes_discord._ids = itertools.count(1)  # same ids in every process
    built = fakes_discord.build_server(messages=int(os.environ.get(MESSAGES_ENV, "150")))
    delay = float(os.environ.get(PAGE_SECONDS_ENV, "0"))
    if delay:
        for channel in (built.general, built.random):
            channel.history = slowed(channel.history, delay)
    return built


def slowed(history, delay: float):
    async def history_with_latency(*args, **kwargs):
        await asyncio.sleep(delay)  # a network round trip per page
        async for message in history(*args, **kwargs):
            yield message
    return history_with_latency


def client():
    return server().client
