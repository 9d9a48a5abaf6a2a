"""The fake Discord server for worker subprocesses (the fetch worker's test hook, see core/fetching/fetch_worker.py).

``client()`` is what ``DPS_TEST_DISCORD_CLIENT=tests.discord_fake_client:client`` names: each call builds the same
server from scratch (snowflake counter reset), so a test process and a worker process see identical ids and
messages. The sizes come from the environment so a test can ask for many pages.
"""
from __future__ import annotations

import itertools
import os

from tests import fakes_discord

MESSAGES_ENV = "DPS_TEST_DISCORD_MESSAGES"


def server():
    fakes_discord._ids = itertools.count(1)  # same ids in every process
    return fakes_discord.build_server(messages=int(os.environ.get(MESSAGES_ENV, "150")))


def client():
    return server().client
