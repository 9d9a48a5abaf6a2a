"""The records the supervisor keeps: the facts its state machine decides on, and the snapshot the panel shows."""
from __future__ import annotations

from dataclasses import dataclass

from bot_controller.states import State


@dataclass
class Facts:
    """What the controller recorded for ``transition`` (the mutable side of ``states.Context``)."""
    started_at: float | None = None
    running_since: float | None = None
    retry_at: float | None = None
    failures: int = 0
    restarts: tuple[float, ...] = ()
    stop_sent_at: float | None = None
    terminated_at: float | None = None
    kill_reason: str = ""
    restart_after_stop: bool = False


@dataclass(frozen=True)
class BotStatus:
    """A snapshot for the panel and the tray."""
    state: State
    reason: str
    last_error: str
    pid: int | None
    uptime: float | None          # seconds since the bot became RUNNING
    restarts: int                 # automatic restarts within the last hour
    retry_in: float | None        # seconds until a scheduled restart
    paused: bool
    pause_reasons: tuple[str, ...]
    heartbeat_age: float | None   # seconds since the last heartbeat
    activity: str                 # what the last heartbeat said the bot was doing
