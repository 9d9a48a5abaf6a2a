"""The bot supervisor: keeps one bot child process running, restarts it when it crashes or hangs, gives up when it
keeps failing, and pauses it while a training job needs the GPU.

Every decision is made by the pure ``bot_controller.states.transition``; this class records the facts it decides on
(times from the injected clock), applies its actions to the child (``bot_controller.child_process``), and publishes
each state change as ``BotStateChanged`` on the bus. Inputs arrive on the caller's thread (``start``, ``stop``...)
and on the ticker thread (``tick``: heartbeats, exits, the watchdog, retries, training jobs); both hold one lock, so
the state machine sees one input at a time. With ``background=False`` nothing ticks by itself: tests call ``tick``.
"""
from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
import time
from typing import Callable, Sequence

from bot_controller.child_process import ChildProcess
from bot_controller.gpu_sharing import pause_decision
from bot_controller.launch import NoToken, bot_argv, child_environment, policy_from_config, token_for_child
from bot_controller.protocol import (BOT_JOB_ID, BotStateChanged, LeaveGuild, PauseBot, ReloadModel, ResumeBot,
                                     SettingsChanged)
from bot_controller.status import BotStatus, Facts
from bot_controller.states import (ALIVE, WAITING, Beat, CancelRetry, Context, Exited, Kill, KillNow, LaunchFailed,
                                   Note, ResetBudget, Restart, ScheduleRetry, SendStop, SetRestartAfterStop,
                                   Spawn, Start, State, Stop, Terminate, Tick, recent_restarts, transition)
from core.config.app_config import load_config
from core.config.supervisor import SupervisorConfig
from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import JobStateChanged, LogLine, Request

TICK_SECONDS = 0.1         # watchdog resolution; heartbeats are seconds apart, so this costs nothing
USER = "user"              # the pause holder for a pause asked by hand

log = logging.getLogger(__name__)


class BotController:
    """Supervises ``python launcher.py --worker bot`` (or ``argv``). Thread-safe; see the module docstring."""

    def __init__(self, workspace: Workspace, bus: EventBus, clock: Callable[[], float] = time.monotonic,
                 popen: Callable = subprocess.Popen, *, config: SupervisorConfig | None = None,
                 argv: Sequence[str] | None = None, extra_env: dict[str, str] | None = None,
                 background: bool = True, tick_seconds: float = TICK_SECONDS) -> None:
        self.workspace = workspace
        self.bus = bus
        self.config = config if config is not None else load_config(workspace.config_path).supervisor
        self.policy = policy_from_config(self.config)
        self._clock = clock
        self._popen = popen
        self._argv = list(argv) if argv else bot_argv(workspace)
        self._extra_env = dict(extra_env or {})
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._state = State.STOPPED
        self._child: ChildProcess | None = None
        self._beats_seen = 0
        self._facts = Facts()
        self._reason = ""
        self._last_error = ""
        self._exit_code: int | None = None
        self._holders: dict[str, str] = {}   # who holds a pause -> why
        self._subscription = bus.subscribe(name="bot-supervisor", types=(JobStateChanged,))
        self._closed = threading.Event()
        self._ticker = None
        if background:
            self._ticker = threading.Thread(target=self._run_ticker, args=(tick_seconds,), daemon=True,
                                            name="bot-supervisor")
            self._ticker.start()

    # -- what the panel reads ---------------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def last_error(self) -> str:
        """Why the bot last failed (a crash, FATAL); cleared by a start by hand."""
        return self._last_error

    @property
    def paused(self) -> bool:
        return bool(self._holders)

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child else None

    def uptime(self) -> float | None:
        with self._lock:
            if self._state is not State.RUNNING or self._facts.running_since is None:
                return None
            return self._clock() - self._facts.running_since

    def status(self) -> BotStatus:
        with self._lock:
            now, child = self._clock(), self._child
            beat = child.last_beat if child else None
            return BotStatus(state=self._state, reason=self._reason, last_error=self._last_error, pid=self.pid,
                             uptime=self.uptime(), restarts=recent_restarts(self._context(now)),
                             retry_in=self._retry_in(now), paused=self.paused,
                             pause_reasons=tuple(reason for reason in self._holders.values() if reason),
                             heartbeat_age=None if beat is None else now - beat,
                             activity=child.last_status if child else "")

    # -- what the panel does ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._dispatch(Start())

    def stop(self) -> None:
        """Cooperative stop (a stop line on stdin), then terminate, then kill, after the policy's grace periods."""
        self._dispatch(Stop())

    def restart(self) -> None:
        self._dispatch(Restart())

    def kill(self) -> None:
        self._dispatch(KillNow())

    def pause(self, reason: str = "", holder: str = USER) -> None:
        """Ask the bot to free the GPU and go quiet until every holder has resumed it; holds across restarts."""
        with self._lock:
            was_paused = self.paused
            self._holders[holder] = reason
            if not was_paused:
                self._pause_changed(f"paused: {reason}" if reason else "paused")

    def resume(self, holder: str = USER) -> None:
        with self._lock:
            if self._holders.pop(holder, None) is not None and not self.paused:
                self._pause_changed("resumed")

    def reload_model(self, path: str = "") -> bool:
        return self.send(ReloadModel(path=path))

    def settings_changed(self, sections: Sequence[str] = ()) -> bool:
        return self.send(SettingsChanged(sections=list(sections)))

    def leave_guild(self, guild_id: int) -> bool:
        """Ask the running bot to leave a server; False when no bot runs to receive it."""
        return self.send(LeaveGuild(guild_id=int(guild_id)))

    def send(self, request: Request) -> bool:
        """Send a request to the running child; False when there is none to receive it."""
        with self._lock:
            if self._child is None or self._state not in (State.STARTING, State.RUNNING):
                return False
            self._child.send(request)
            return True

    def wait_for(self, *states: State, timeout: float | None = None) -> bool:
        """Block until the state is one of ``states``; False on timeout. Needs the ticker (``background=True``)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._state in states, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop the bot (waiting up to ``timeout``, then killing it) and end the ticker; for the app's exit."""
        limit = self.policy.stop_grace + self.policy.terminate_grace + 2.0 if timeout is None else timeout
        if self._state in ALIVE:
            self.stop()
            if not self._wait_ticking(limit):
                self.kill()
                self._wait_ticking(5.0)
        self._closed.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(2.0)
        self._subscription.close()

    # -- the loop ---------------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """One round of the supervisor: training jobs, heartbeats, the child's exit, the watchdog and retries."""
        with self._lock:
            self._watch_training()
            child = self._child
            if child is not None:
                if child.beats > self._beats_seen:
                    self._beats_seen = child.beats
                    self._dispatch(Beat())
                code = child.poll()
                if code is not None:
                    child.join_readers(1.0)
                    child.close()
                    self._child, self._exit_code = None, code
                    self._dispatch(Exited(code, child.detail()))
            self._dispatch(Tick())

    def _run_ticker(self, seconds: float) -> None:
        while not self._closed.wait(seconds):
            try:
                self.tick()
            except Exception:  # the watchdog must outlive a bug in one round
                log.exception("bot supervisor tick failed")

    def _wait_ticking(self, timeout: float) -> bool:
        ended = (State.STOPPED, State.EXITED, State.FATAL, State.BACKOFF)
        if self._ticker is not None:
            return self.wait_for(*ended, timeout=timeout)
        deadline = time.monotonic() + timeout
        while self._state not in ended and time.monotonic() < deadline:
            self.tick()
            time.sleep(0.02)
        return self._state in ended

    def _context(self, now: float | None = None) -> Context:
        child = self._child
        return Context(now=self._clock() if now is None else now, policy=self.policy,
                       last_beat=child.last_beat if child else None, **dataclasses.asdict(self._facts))

    def _dispatch(self, event) -> None:
        with self._lock:
            pending = [event]
            while pending:
                context = self._context()
                new_state, actions = transition(self._state, pending.pop(0), context)
                previous, self._state = self._state, new_state
                if new_state is State.RUNNING and previous is not State.RUNNING:
                    self._facts.running_since = context.now
                note = None
                for action in actions:
                    follow_up = self._apply(action, context.now)
                    note = action if isinstance(action, Note) else note
                    if follow_up is not None:
                        pending.append(follow_up)
                if new_state is not previous:
                    self._announce(previous, note, context.now)

    def _apply(self, action, now: float):
        """Carry out one action and record its facts; returns a follow-up input (a failed launch) or None."""
        child = self._child
        if isinstance(action, Spawn):
            return self._spawn(now)
        if isinstance(action, SendStop):
            self._facts.stop_sent_at = now
            if child is not None:
                child.send_stop()
        elif isinstance(action, Terminate):
            self._facts.terminated_at = now
            self._say(f"the bot did not stop within {self.policy.stop_grace:g}s: terminating it")
            if child is not None:
                child.terminate()
        elif isinstance(action, Kill):
            self._facts.kill_reason = action.reason
            self._say(f"killing the bot: {action.reason}")
            if child is not None:
                child.kill()
        elif isinstance(action, ScheduleRetry):
            self._facts.retry_at, self._facts.failures = action.at, action.failures
            self._facts.restarts = (*(when for when in self._facts.restarts
                                      if now - when < self.policy.restart_window), now)
        elif isinstance(action, CancelRetry):
            self._facts.retry_at = None
        elif isinstance(action, ResetBudget):
            self._facts.failures, self._facts.restarts, self._last_error = 0, (), ""
        elif isinstance(action, SetRestartAfterStop):
            self._facts.restart_after_stop = action.value
        elif isinstance(action, Note):
            self._reason = action.reason
            if action.error:
                self._last_error = action.reason
        return None

    # -- the child --------------------------------------------------------------------------------------------------
    def _spawn(self, now: float):
        try:
            token = token_for_child()
            env = child_environment(self.workspace, self.policy, token_on_stdin=token is not None,
                                    paused=self.paused, extra=self._extra_env)
            child = ChildProcess(self._popen, self._argv, env, publish=self.bus.publish, clock=self._clock,
                                 first_line=token, log_path=self.workspace.logs_dir / "bot.log")
        except NoToken as exc:
            return LaunchFailed(str(exc))
        except OSError as exc:
            return LaunchFailed(f"{type(exc).__name__}: {exc}")
        self._child, self._beats_seen, self._exit_code = child, 0, None
        facts = self._facts
        facts.started_at, facts.running_since, facts.stop_sent_at, facts.terminated_at = now, None, None, None
        facts.kill_reason = ""
        if self.paused:  # the child also sees ENV_START_PAUSED; the request makes "paused" one code path for it
            child.send(PauseBot(reason=self._pause_reason()))
        return None

    # -- pausing for training ---------------------------------------------------------------------------------------
    def _watch_training(self) -> None:
        for event in self._subscription.drain(max_items=1000):
            decision = pause_decision(event, self.config.pause_for_training)
            if decision is None:
                continue
            verb, holder, reason = decision
            if verb == "resume":
                self.resume(holder)
            elif holder not in self._holders:
                self.pause(reason, holder=holder)

    def _pause_reason(self) -> str:
        return "; ".join(reason for reason in self._holders.values() if reason)

    def _pause_changed(self, reason: str) -> None:
        if self._child is not None and self._state in (State.STARTING, State.RUNNING):
            self._child.send(PauseBot(reason=self._pause_reason()) if self.paused else ResumeBot())
        self._announce(self._state, Note(reason))

    # -- telling the world ------------------------------------------------------------------------------------------
    def _retry_in(self, now: float) -> float | None:
        if self._state not in WAITING or self._facts.retry_at is None:
            return None
        return max(0.0, self._facts.retry_at - now)

    def _announce(self, previous: State, note: Note | None, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        self.bus.publish(BotStateChanged(
            job_id=BOT_JOB_ID, state=self._state.value, previous=previous.value,
            reason=note.reason if note else "", error=bool(note and note.error), pid=self.pid,
            restarts=recent_restarts(self._context(now)), retry_in=self._retry_in(now), paused=self.paused,
            exit_code=None if self._state in ALIVE else self._exit_code))
        self._changed.notify_all()

    def _say(self, text: str) -> None:
        self.bus.publish(LogLine(job_id=BOT_JOB_ID, text=text, stream="supervisor"))
