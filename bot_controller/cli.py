"""``launcher.py bot``: run the bot under its supervisor in the foreground until Ctrl+C.

Registered by ``launcher.py`` (core never imports ``bot_controller``, so this command group cannot be listed in
``core.cli.COMMAND_MODULES``). The first Ctrl+C stops the bot cooperatively (a stop line on the child's stdin, then
terminate, then kill: no signal reaches the child, which runs in its own process group), a second one kills it. The
command returns only once the child is gone, so no orphan is left behind.

Ctrl+C is counted by a signal handler and acted on between two polls of the event queue, never raised in the middle
of one: a KeyboardInterrupt landing inside the queue's wait could leave its lock held, and the command then hung
(seen once in CI).
"""
from __future__ import annotations

import signal
import sys

from bot_controller.controller import BotController
from bot_controller.protocol import BOT_JOB_ID, BotStateChanged
from bot_controller.states import State
from core.cli.base import CommandError, add_command
from core.jobs.bus import EventBus
from core.jobs.events import LogLine

POLL_SECONDS = 0.5


def register(subparsers) -> None:
    add_command(subparsers, "bot", run_bot, json_output=False,
                help="run the Discord bot in the foreground under its supervisor (Ctrl+C stops it)")


def run_bot(args, context):
    bus = EventBus()
    events = bus.subscribe(name="cli", job_id=BOT_JOB_ID)
    controller = BotController(context.workspace, bus, config=context.config.supervisor)
    asked: list[int] = []           # one entry per Ctrl+C, appended by the handler
    handled = 0
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: asked.append(1))
    try:
        controller.start()
        while not _finished(controller) or events.pending():
            for event in events.drain(timeout=POLL_SECONDS):
                _show(event)
            while handled < len(asked):
                handled += 1
                if handled == 1:
                    context.say("stopping the bot (Ctrl+C again to kill it)")
                    controller.stop()
                else:
                    controller.kill()
    finally:
        signal.signal(signal.SIGINT, previous)
        controller.close()   # whatever happened above, the child is gone when we return
        for event in events.drain(max_items=10_000):
            _show(event)
        events.close()
    if controller.state is State.FATAL:
        raise CommandError(controller.last_error or "the bot could not be kept running")
    return None


def _finished(controller: BotController) -> bool:
    """Stopped, given up, or ended on its own with no restart scheduled."""
    status = controller.status()
    return status.state in (State.STOPPED, State.FATAL) or (status.state is State.EXITED and status.retry_in is None)


def _show(event) -> None:
    """State changes and the bot's own lines; other events (heartbeats, the child's JobFailed, which the FATAL
    reason repeats) are for the panel."""
    if isinstance(event, BotStateChanged):
        detail = f" ({event.reason})" if event.reason and event.reason != event.state else ""
        print(f"bot: {event.state}{detail}", file=sys.stderr, flush=True)
    elif isinstance(event, LogLine):
        print(event.text, file=sys.stderr, flush=True)
