"""The bot child's side of the supervisor protocol: the token handoff, heartbeats, requests, meaningful exits.

For the bot runtime (``bot_controller/bot/``), in this order:

    token = child.read_token()             # FIRST, before anything uses core.jobs.wire.link() (it reads stdin)
    link = child.BotLink()                 # the wire link: stop line, requests, parent watch
    link.bind_loop(asyncio.get_running_loop())   # handlers then run on the bot's event loop (coroutines allowed)
    link.on_pause(handler); link.on_resume(...); link.on_reload(...); link.on_settings_changed(...)
    link.on_leave_guild(...); link.on_stop(...)
    asyncio.create_task(link.heartbeat_forever(lambda: "ready"))   # from the loop: a blocked loop stops the beats
    await link.stopped()                   # stop asked, or the supervisor died: log out, return 0
    if link.start_paused: ...              # a training job holds the GPU: do not load the model yet
    return child.exit_bad_token("...")     # Discord said 401: the supervisor goes FATAL instead of looping

The token travels on stdin only when the supervisor found it in ``$DPS_BOT_TOKEN`` (the job runner strips that
variable from children); otherwise the child reads the OS keyring itself. It is never in argv or the environment.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import sys
from typing import Any, Callable, Mapping, TextIO

from bot_controller.protocol import (ENV_HEARTBEAT, ENV_START_PAUSED, ENV_TOKEN_ON_STDIN, EXIT_BAD_TOKEN, EXIT_CONFIG,
                                     HEARTBEAT_SECONDS, REQUEST_NAME, BotHeartbeat, LeaveGuild, PauseBot, ReloadModel,
                                     ResumeBot, SettingsChanged)
from core.jobs import wire
from core.jobs.events import JobFailed


def read_token(stdin: TextIO | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The bot token: the first stdin line when the supervisor sent it there, else the keyring (or the env)."""
    from core.config.secrets import get_token, register_secret
    environ = os.environ if environ is None else environ
    if environ.get(ENV_TOKEN_ON_STDIN) == "1":
        token = (stdin or sys.stdin).readline().strip()
        if token:
            register_secret(token)
        return token or None
    return get_token()


class BotLink:
    """The wire link with the bot's vocabulary. Handlers run on the control thread until ``bind_loop``."""

    def __init__(self, link: wire.WorkerLink | None = None, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.link = link or wire.link()
        self.heartbeat_seconds = float(environ.get(ENV_HEARTBEAT, HEARTBEAT_SECONDS))
        self.start_paused = environ.get(ENV_START_PAUSED) == "1"
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_pause(self, handler: Callable[[PauseBot], Any]) -> None:
        self._on(PauseBot, handler)

    def on_resume(self, handler: Callable[[ResumeBot], Any]) -> None:
        self._on(ResumeBot, handler)

    def on_reload(self, handler: Callable[[ReloadModel], Any]) -> None:
        self._on(ReloadModel, handler)

    def on_settings_changed(self, handler: Callable[[SettingsChanged], Any]) -> None:
        self._on(SettingsChanged, handler)

    def on_leave_guild(self, handler: Callable[[LeaveGuild], Any]) -> None:
        self._on(LeaveGuild, handler)

    def on_stop(self, handler: Callable[[Any], Any]) -> None:
        """The supervisor asks the bot to log out and exit 0 (``stop_requested()`` turns true as well)."""
        self.link.on_request("stop", self._wrap(handler))

    def stop_requested(self) -> bool:
        """True once the supervisor asked for a stop, or the supervisor died (stdin closed, its pid gone)."""
        return self.link.stop_requested()

    async def stopped(self, poll: float = 0.1) -> None:
        """Return once ``stop_requested()``: await it beside the bot and log out when it returns. It covers the
        orphan case too (the parent died), which no request handler sees."""
        while not self.link.stop_requested():
            await asyncio.sleep(poll)

    def heartbeat(self, status: str = "", **details: Any) -> None:
        self.link.emit(BotHeartbeat(status=status, details=details))

    async def heartbeat_forever(self, status: Callable[[], str] = lambda: "", interval: float | None = None,
                                details: Callable[[], dict] = dict) -> None:
        """Beat every ``interval`` seconds (the supervisor's setting by default) until cancelled; ``status()`` and
        ``details()`` (guilds, latency: JSON values) are asked afresh for each beat."""
        interval = self.heartbeat_seconds if interval is None else interval
        while True:
            self.heartbeat(status(), **details())
            await asyncio.sleep(interval)

    def _on(self, request_type: type, handler: Callable) -> None:
        self.link.on_request(REQUEST_NAME[request_type], self._wrap(handler))

    def _wrap(self, handler: Callable) -> Callable:
        def deliver(request) -> None:
            loop = self._loop
            if loop is None or loop.is_closed():
                result = handler(request)
                if inspect.isawaitable(result):
                    asyncio.run(result)
                return
            if inspect.iscoroutinefunction(handler):
                asyncio.run_coroutine_threadsafe(handler(request), loop)
            else:
                loop.call_soon_threadsafe(handler, request)
        return deliver


def exit_bad_token(message: str = "Discord rejected the bot token", link: wire.WorkerLink | None = None) -> int:
    """Report a refused token (one line, never the token) and return the code that makes the supervisor give up."""
    return _exit(message, EXIT_BAD_TOKEN, "set a new token with `launcher.py token set`", link)


def exit_config(message: str, link: wire.WorkerLink | None = None) -> int:
    """Report unusable settings (say which and where) and return the no-restart code."""
    return _exit(message, EXIT_CONFIG, "fix the setting named above and start the bot again", link)


def _exit(message: str, code: int, advice: str, link: wire.WorkerLink | None) -> int:
    from core.config.secrets import redact
    message = redact(message)
    print(f"error: {message}", file=sys.stderr, flush=True)
    (link or wire.link()).emit(JobFailed(message=message, advice=advice, exit_code=code))
    return code
