"""The bot supervisor's state machine: states, inputs, actions and the pure ``transition`` function.

Modelled on supervisord's process states. ``transition(state, event, context)`` decides; it never touches a process
or a clock: the controller (``bot_controller.controller``) builds a ``Context`` from the facts it recorded (times come
from its injected clock), applies the returned actions, and records their facts (a spawn time, a scheduled retry).

    STOPPED  --Start-->  STARTING  --first heartbeat-->  RUNNING
    STARTING/RUNNING --crash or missed heartbeats--> BACKOFF (was starting) / EXITED (was running), retry scheduled
    BACKOFF/EXITED --retry due--> STARTING;  too many restarts in an hour --> FATAL
    exit code EXIT_BAD_TOKEN / EXIT_CONFIG, or a launch that fails --> FATAL at once (no restart loop)
    STARTING/RUNNING --Stop--> STOPPING (stop line, then terminate, then kill) --exit--> STOPPED
    an unrequested exit with code 0 --> EXITED with no retry (the bot decided to end)
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from bot_controller.protocol import EXIT_BAD_TOKEN, EXIT_CONFIG


class State(str, enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"


ALIVE = (State.STARTING, State.RUNNING, State.STOPPING)  # a child process exists in these states
WAITING = (State.BACKOFF, State.EXITED)                  # a retry may be scheduled in these


@dataclass(frozen=True)
class Policy:
    """How patient the supervisor is. Defaults mirror ``core.config.supervisor.SupervisorConfig``."""
    heartbeat_seconds: float = 5.0
    missed_heartbeats: int = 3
    start_timeout: float = 60.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_restarts: int = 5
    restart_window: float = 3600.0
    stable_seconds: float = 300.0
    stop_grace: float = 15.0
    terminate_grace: float = 5.0


# -- inputs ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    """The user asked for the bot to run."""


@dataclass(frozen=True)
class Stop:
    """The user asked for the bot to stop (cooperatively, escalating)."""


@dataclass(frozen=True)
class Restart:
    """Stop if running, then start with a fresh restart budget."""


@dataclass(frozen=True)
class KillNow:
    """End the child at once (a second Ctrl+C)."""


@dataclass(frozen=True)
class Beat:
    """A heartbeat arrived from the current child."""


@dataclass(frozen=True)
class Exited:
    code: int
    detail: str = ""   # the child's last failure message or log line, for the reason text


@dataclass(frozen=True)
class LaunchFailed:
    message: str


@dataclass(frozen=True)
class Tick:
    """Time passed: check the heartbeat watchdog, the stop escalation and scheduled retries."""


# -- actions --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spawn:
    pass


@dataclass(frozen=True)
class SendStop:
    pass


@dataclass(frozen=True)
class Terminate:
    pass


@dataclass(frozen=True)
class Kill:
    reason: str


@dataclass(frozen=True)
class ScheduleRetry:
    at: float
    failures: int       # consecutive failures so far (the backoff exponent)


@dataclass(frozen=True)
class CancelRetry:
    pass


@dataclass(frozen=True)
class ResetBudget:
    """A start by hand: forget earlier failures and restarts."""


@dataclass(frozen=True)
class SetRestartAfterStop:
    value: bool


@dataclass(frozen=True)
class Note:
    """Why the state changed (shown by the panel); ``error`` marks it as the controller's last error."""
    reason: str
    error: bool = False


@dataclass(frozen=True)
class Context:
    """The facts ``transition`` decides on; all times are from the controller's clock."""
    now: float
    policy: Policy = Policy()
    started_at: float | None = None      # the current child's spawn time
    running_since: float | None = None   # its first heartbeat
    last_beat: float | None = None
    retry_at: float | None = None
    failures: int = 0
    restarts: tuple[float, ...] = ()     # times automatic restarts were scheduled
    stop_sent_at: float | None = None
    terminated_at: float | None = None
    kill_reason: str = ""                # set once a kill was sent (no second kill)
    restart_after_stop: bool = False


def transition(state: State, event, context: Context) -> tuple[State, tuple]:
    """The next state and the actions that take the supervisor there. Pure: same inputs, same answer."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"unknown supervisor input {event!r}")
    new_state, actions = handler(state, event, context)
    return new_state, tuple(actions)


def backoff_delay(failures: int, policy: Policy) -> float:
    """Seconds before retry number ``failures`` (1, 2, 3...): base, 2x base, 4x base..., capped."""
    return min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, failures - 1))


def recent_restarts(context: Context) -> int:
    return sum(1 for when in context.restarts if context.now - when < context.policy.restart_window)


def _on_start(state, event, context):
    if state in (State.STARTING, State.RUNNING):
        return state, []
    if state is State.STOPPING:
        return state, [SetRestartAfterStop(True)]
    return State.STARTING, [CancelRetry(), ResetBudget(), Spawn(), Note("starting")]


def _on_stop(state, event, context):
    if state in (State.STARTING, State.RUNNING):
        return State.STOPPING, [SetRestartAfterStop(False), SendStop(), Note("stop requested")]
    if state is State.STOPPING:
        return state, [SetRestartAfterStop(False)]
    if state is State.STOPPED:
        return state, []
    return State.STOPPED, [CancelRetry(), Note("stopped by request")]


def _on_restart(state, event, context):
    if state in (State.STARTING, State.RUNNING):
        return State.STOPPING, [SetRestartAfterStop(True), SendStop(), Note("restart requested")]
    if state is State.STOPPING:
        return state, [SetRestartAfterStop(True)]
    return _on_start(state, Start(), context)


def _on_kill_now(state, event, context):
    if state in ALIVE and not context.kill_reason:
        return state, [Kill("killed by request")]
    return state, []


def _on_beat(state, event, context):
    if state is State.STARTING:
        return State.RUNNING, [Note("running")]
    return state, []


def _on_launch_failed(state, event, context):
    if state is not State.STARTING:
        return state, []
    return State.FATAL, [Note(f"could not start the bot: {event.message}", error=True)]


def _on_exited(state, event, context):
    if state is State.STOPPING:
        if context.restart_after_stop:
            return State.STARTING, [SetRestartAfterStop(False), ResetBudget(), Spawn(), Note("restarting")]
        return State.STOPPED, [Note("stopped")]
    if state not in (State.STARTING, State.RUNNING):
        return state, []
    detail = f": {event.detail}" if event.detail else ""
    if event.code == EXIT_BAD_TOKEN:
        return State.FATAL, [Note("the bot token was refused (set a new one with `launcher.py token set`)"
                                  + detail, error=True)]
    if event.code == EXIT_CONFIG:
        return State.FATAL, [Note("the bot's configuration is invalid" + detail, error=True)]
    if event.code == 0 and not context.kill_reason:
        return State.EXITED, [Note("the bot exited on its own (code 0); not restarting")]
    return _schedule_restart(state, event, context, detail)


def _schedule_restart(state, event, context, detail):
    why = context.kill_reason or f"the bot exited with code {event.code}"
    stable = (state is State.RUNNING and context.running_since is not None
              and context.now - context.running_since >= context.policy.stable_seconds)
    failures = 1 if stable else context.failures + 1
    if recent_restarts(context) >= context.policy.max_restarts:
        return State.FATAL, [Note(f"{why}{detail}; gave up after {context.policy.max_restarts} restarts within "
                                  f"{context.policy.restart_window / 60:g} minutes", error=True)]
    delay = backoff_delay(failures, context.policy)
    new_state = State.EXITED if state is State.RUNNING else State.BACKOFF
    return new_state, [ScheduleRetry(at=context.now + delay, failures=failures),
                       Note(f"{why}{detail}; restarting in {delay:g}s", error=True)]


def _on_tick(state, event, context):
    policy, now = context.policy, context.now
    if state in WAITING and context.retry_at is not None and now >= context.retry_at:
        return State.STARTING, [CancelRetry(), Spawn(), Note("restarting")]
    if context.kill_reason:
        return state, []  # already killed: wait for the exit
    if state is State.STARTING and context.started_at is not None and now - context.started_at >= policy.start_timeout:
        return state, [Kill(f"no heartbeat within {policy.start_timeout:g}s of starting")]
    if state is State.RUNNING and context.last_beat is not None:
        allowed = policy.missed_heartbeats * policy.heartbeat_seconds
        if now - context.last_beat >= allowed:
            return state, [Kill(f"missed {policy.missed_heartbeats} heartbeats ({now - context.last_beat:.1f}s "
                                f"without one)")]
    if state is State.STOPPING and context.stop_sent_at is not None:
        if context.terminated_at is None and now - context.stop_sent_at >= policy.stop_grace:
            return state, [Terminate()]
        if context.terminated_at is not None and now - context.terminated_at >= policy.terminate_grace:
            return state, [Kill("it did not stop when asked")]
    return state, []


_HANDLERS = {
    Start: _on_start, Stop: _on_stop, Restart: _on_restart, KillNow: _on_kill_now, Beat: _on_beat,
    LaunchFailed: _on_launch_failed, Exited: _on_exited, Tick: _on_tick,
}
