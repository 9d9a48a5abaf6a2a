"""How the supervisor launches the bot child: its command line, its environment, the token handoff, its policy.

The token is never put in argv or the environment: when it lives in the OS keyring the child reads it there itself;
when it is only in ``$DPS_BOT_TOKEN`` (which the job runner's rule strips from every child's environment) it travels
as the child's first stdin line, flagged by ``ENV_TOKEN_ON_STDIN``.
"""
from __future__ import annotations

import os
from typing import Mapping

from bot_controller.protocol import ENV_HEARTBEAT, ENV_START_PAUSED, ENV_TOKEN_ON_STDIN
from bot_controller.states import Policy
from core.config.supervisor import SupervisorConfig
from core.config.workspace import Workspace
from core.jobs import wire
from core.jobs.runner import SECRET_ENV, worker_argv

ORPHAN_GRACE_SECONDS = 5.0  # the bot has nothing to save: an orphaned bot logs out and frees the GPU quickly


class NoToken(Exception):
    """No token anywhere: the child would only fail; the message says what to do."""


def bot_argv(workspace: Workspace) -> list[str]:
    """``python launcher.py --worker bot --workspace DIR`` (or the frozen executable's equivalent)."""
    return list(worker_argv("bot", "--workspace", str(workspace.root)))


def token_for_child() -> str | None:
    """The token to send on stdin (only when it is in the environment), None when the child reads the keyring."""
    from core.config.secrets import TOKEN_ENV, register_secret, token_source
    source = token_source()
    if source is None:
        raise NoToken(f"no bot token is stored: run `launcher.py token set` (or set {TOKEN_ENV})")
    if source != "environment":
        return None
    token = os.environ[TOKEN_ENV].strip()
    register_secret(token)  # from now on no log record of this process can carry it
    return token


def child_environment(workspace: Workspace, policy: Policy, *, token_on_stdin: bool, paused: bool,
                      extra: Mapping[str, str] = ()) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SECRET_ENV}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "1",
                wire.ENV_CONTROL: "stdin", wire.ENV_PARENT_PID: str(os.getpid()),
                wire.ENV_ORPHAN_GRACE: str(ORPHAN_GRACE_SECONDS), ENV_HEARTBEAT: str(policy.heartbeat_seconds),
                "DPS_WORKSPACE": str(workspace.root)})
    if token_on_stdin:
        env[ENV_TOKEN_ON_STDIN] = "1"
    if paused:
        env[ENV_START_PAUSED] = "1"
    env.update(extra)
    return env


def policy_from_config(config: SupervisorConfig) -> Policy:
    return Policy(heartbeat_seconds=config.heartbeat_seconds, missed_heartbeats=config.missed_heartbeats,
                  start_timeout=config.start_timeout_seconds, backoff_base=config.backoff_base_seconds,
                  backoff_cap=config.backoff_cap_seconds, max_restarts=config.max_restarts_per_hour,
                  stable_seconds=config.stable_seconds, stop_grace=config.stop_grace_seconds,
                  terminate_grace=config.terminate_grace_seconds)
