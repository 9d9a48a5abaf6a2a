"""``fetch`` as a job: ``fetch_job`` builds the JobSpec for ``JobRunner.start`` (worker:
``core.fetching.fetch_worker``, ``launcher.py --worker fetch``).

The bot token travels as the first line of the worker's stdin (``JobSpec.secret_stdin``): never in argv, in the
worker's environment (the runner strips DPS_BOT_TOKEN) or in a log.
"""
from __future__ import annotations

from typing import Iterable

from core.jobs.specs import JobSpec, workspace_job

NO_TOKEN = "no bot token: run `launcher.py token set` or set DPS_BOT_TOKEN"


class NoToken(LookupError):
    """There is no bot token to fetch with."""


def fetch_job(workspace, channel_ids: Iterable[int] | None = None, *, token: str | None = None) -> JobSpec:
    """Fetch ``channel_ids`` (default: the allowlist) into ``workspace``'s database in a worker."""
    if token is None:
        from core.config.secrets import get_token
        token = get_token()
    if not token:
        raise NoToken(NO_TOKEN)
    ids = [str(int(channel_id)) for channel_id in channel_ids or ()]
    return workspace_job("fetch", workspace, *(["--channel", *ids] if ids else []), secret_stdin=token)
