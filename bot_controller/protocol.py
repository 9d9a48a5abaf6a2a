"""What the bot child and its supervisor say to each other, on top of the job wire protocol (``core.jobs.wire``).

Child -> supervisor: events (``BotHeartbeat`` every ``HEARTBEAT_SECONDS``; any other registered event passes through
to the bus). Supervisor -> child: requests on stdin (``ReloadModel``, ``PauseBot``, ``ResumeBot``,
``SettingsChanged``, ``LeaveGuild``, and the job protocol's stop), which the wire only ever parses in that direction,
so a child cannot ask its parent for anything. The supervisor's own event, ``BotStateChanged``, is registered too so
recorders and replays can carry it.

Exit codes with a meaning: ``EXIT_BAD_TOKEN`` (Discord refused the token) and ``EXIT_CONFIG`` (the bot's settings are
unusable) make the supervisor give up at once (FATAL) instead of restarting into the same error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.jobs.events import Event, Request, register_event, register_request

HEARTBEAT_SECONDS = 5.0
EXIT_BAD_TOKEN = 78   # sysexits' EX_CONFIG neighbourhood; distinct from Python's 1 (crash) and 2 (usage)
EXIT_CONFIG = 79
BOT_JOB_ID = "bot"    # job_id stamped on everything the supervisor publishes, so one subscription gets it all
# Environment the supervisor sets for the child (never the token itself).
ENV_HEARTBEAT = "DPS_BOT_HEARTBEAT_SECONDS"  # the interval the supervisor's watchdog expects
ENV_TOKEN_ON_STDIN = "DPS_BOT_TOKEN_ON_STDIN"  # "1": the first stdin line is the token (it was only in the env)
ENV_START_PAUSED = "DPS_BOT_START_PAUSED"      # "1": a training job holds the GPU; do not load the model yet


@register_event("bot_heartbeat")
@dataclass(frozen=True)
class BotHeartbeat(Event):
    """The child is alive: sent from its event loop, so a blocked loop stops the beats. ``status`` is what it is
    doing ("connecting", "ready", "paused", "busy"), ``details`` anything the panel may show (guilds, latency)."""
    status: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@register_event("bot_state")
@dataclass(frozen=True)
class BotStateChanged(Event):
    """The supervisor moved the bot to ``state`` (``bot_controller.states.State`` values) or paused/resumed it.

    ``previous`` equals ``state`` when only ``paused`` changed. ``reason`` says why in one line; ``error`` marks it as a
    failure (FATAL, a crash). ``retry_in`` is the backoff delay in seconds while a restart is scheduled.
    """
    state: str = ""
    previous: str = ""
    reason: str = ""
    error: bool = False
    pid: int | None = None
    restarts: int = 0             # automatic restarts within the last hour
    retry_in: float | None = None
    paused: bool = False
    exit_code: int | None = None


@register_request("bot_reload_model")
@dataclass(frozen=True)
class ReloadModel(Request):
    """Load the model again (a new export); ``path`` empty = the configured one."""
    path: str = ""


@register_request("bot_pause")
@dataclass(frozen=True)
class PauseBot(Request):
    """Free the GPU (unload the model) and stay quiet or answer that the bot is busy, until ResumeBot."""
    reason: str = ""


@register_request("bot_resume")
@dataclass(frozen=True)
class ResumeBot(Request):
    """Load the model again and answer as usual."""


@register_request("bot_settings_changed")
@dataclass(frozen=True)
class SettingsChanged(Request):
    """``config.toml`` changed: re-read it. ``sections`` names what changed (empty = maybe everything)."""
    sections: list[str] = field(default_factory=list)


@register_request("bot_leave_guild")
@dataclass(frozen=True)
class LeaveGuild(Request):
    """Leave the server ``guild_id`` (the Bot page's server list: a server the owner does not want the bot in)."""
    guild_id: int = 0


REQUEST_NAME = {ReloadModel: "bot_reload_model", PauseBot: "bot_pause", ResumeBot: "bot_resume",
                SettingsChanged: "bot_settings_changed", LeaveGuild: "bot_leave_guild"}
