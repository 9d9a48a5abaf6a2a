"""``--self-test``: the control panel opens, imports the sample server and answers one playground line, for real.

``DiscordPersonaStudio --self-test`` (or ``python launcher.py --self-test``) opens the window on the current display,
then drives the panel's own verbs from a helper thread: the sample-server import (an ``import`` worker job) and one
playground reply from the bundled small model (a ``chat`` worker job running llama.cpp). The helper thread never
touches Tk: it waits on the event bus and ends the app with the tray's QuitApp request, which the window answers on
its own thread. Exit 0 when every step passed; otherwise 1 and one line naming the step that failed and why. The
work happens in a fresh temporary workspace (removed afterwards) unless ``--workspace`` names one.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.jobs.events import JobFailed, JobFinished, JobStarted
from gui.events import PANEL_JOB_ID, QuitApp

STEP_TIMEOUT = 240.0   # seconds for one step (a cold start of the chat worker loads llama.cpp and the model)
WINDOW_TIMEOUT = 60.0  # for the window to be mapped
PLAYGROUND_LINE = "hey, what is everyone up to tonight?"
REPLY_TOKENS = 24


class SelfTestFailed(Exception):
    """A step failed; the message is the one line the user sees."""


class SelfTest:
    """The steps, run on a helper thread against the panel's ``Actions``; ``report`` collects what happened."""

    def __init__(self, actions, bus) -> None:
        self.actions = actions
        self.bus = bus
        self.subscription = bus.subscribe(name="self-test")
        self.report: list[str] = []
        self.failure: str | None = None
        self.window_ready = threading.Event()

    def run(self) -> None:
        try:
            if not self.window_ready.wait(WINDOW_TIMEOUT):
                raise SelfTestFailed("window: it was not shown within a minute")
            self.report.append("window: shown")
            self.import_sample()
            self.playground_reply()
        except SelfTestFailed as exc:
            self.failure = str(exc)
        except Exception as exc:  # a bug or an ActionError: still one line, and the app still quits
            self.failure = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finally:
            self.subscription.close()
            self.bus.publish(QuitApp(job_id=PANEL_JOB_ID))

    def wait_for(self, job_id: str, what: str, classes: tuple[type, ...]):
        """The first event of ``classes`` from job ``job_id``; a JobFailed (or a timeout) fails the step."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            for event in self.subscription.drain(timeout=0.5):
                if event.job_id != job_id:
                    continue
                if isinstance(event, classes):
                    return event
                if isinstance(event, JobFailed):
                    advice = f" ({event.advice})" if event.advice else ""
                    raise SelfTestFailed(f"{what}: the worker failed: {event.message}{advice}")
                if isinstance(event, JobFinished) and JobFinished not in classes:
                    raise SelfTestFailed(f"{what}: the worker ended early ({event.status})")
        raise SelfTestFailed(f"{what}: no answer from the worker within {STEP_TIMEOUT:.0f} s")

    def import_sample(self) -> None:
        job_id = self.actions.try_sample_server()
        finished = self.wait_for(job_id, "sample-server import", (JobFinished,))
        if finished.status != "finished":
            raise SelfTestFailed(f"sample-server import: ended {finished.status}")
        result = finished.result
        if result.get("errors") or not result.get("messages_seen"):
            raise SelfTestFailed(f"sample-server import: read {result.get('messages_seen', 0)} messages; errors: "
                                 f"{'; '.join(result.get('errors') or ['none'])[:300]}")
        personas = self.actions.persona_choices()
        if not personas:
            raise SelfTestFailed("sample-server import: no persona in the imported server")
        self.report.append(f"sample-server import: {result['messages_seen']} messages read, "
                           f"{result.get('messages_new', 0)} new, {len(personas)} personas "
                           f"({self.actions.workspace.root})")

    def playground_reply(self) -> None:
        models = self.actions.playground_models()
        if not models:
            raise SelfTestFailed("playground: no model (the bundled SmolLM2-135M is missing: see third_party/)")
        label, model = models[-1]
        persona_id, persona_name = self.actions.persona_choices()[0]
        job_id = self.actions.start_chat(persona_id, model=model, max_tokens=REPLY_TOKENS)
        try:
            self.wait_for(job_id, "playground: loading the model", (JobStarted,))
            self.actions.send_chat(job_id, PLAYGROUND_LINE)
            from core.prompting.playground import ChatReplied
            reply = self.wait_for(job_id, "playground: the reply", (ChatReplied,))
        finally:
            self.actions.stop_job(job_id)
        tokens = reply.details.get("tokens", 0)
        if not tokens:
            raise SelfTestFailed(f"playground: the model generated nothing ({reply.dropped_reason or 'no reason'})")
        shown = reply.text or f"(dropped: {reply.dropped_reason})"
        self.report.append(f"playground reply from {label} as {persona_name}: {tokens} tokens, "
                           f"{reply.details.get('seconds')} s: {shown[:120]!r}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py --self-test", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="workspace to use (default: a fresh temporary one)")
    return parser.parse_args(argv)


def open_window(actions, bus):
    """The real window (no tray, no monitor: nothing the test does needs them); None when no display."""
    from gui.app import App
    try:
        return App(actions, bus, tray=False, monitor=False, wizard=False)
    except Exception as exc:
        if type(exc).__name__ == "TclError":
            print(f"self-test FAILED: window: cannot open one ({exc}); is DISPLAY set?", file=sys.stderr)
            return None
        raise


def when_mapped(app, ready: threading.Event, started: float) -> None:
    """On the Tk thread: set ``ready`` once the window is on screen."""
    if app.winfo_ismapped():
        ready.set()
    elif time.monotonic() - started < WINDOW_TIMEOUT:
        app.after(100, when_mapped, app, ready, started)


def warn_about_crash_reports(logs_dir: Path) -> None:
    """A panel callback that raised wrote a crash report: name it (a warning, not a failure: the steps still ran)."""
    for report in sorted(logs_dir.glob("crash-*.txt")):
        lines = report.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        print(f"self-test: warning: a panel callback failed: {lines[-1][:200] if lines else report.name}",
              file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from core.config.workspace import Workspace
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    args = parse_args(sys.argv[1:] if argv is None else argv)
    temporary = None if args.workspace else Path(tempfile.mkdtemp(prefix="dps-self-test-"))
    started = time.monotonic()
    try:
        bus = EventBus()
        actions = Actions(Workspace.open(args.workspace or temporary), bus)
        app = open_window(actions, bus)
        if app is None:
            return 1
        test = SelfTest(actions, bus)
        app.after(0, when_mapped, app, test.window_ready, time.monotonic())
        threading.Thread(target=test.run, name="self-test", daemon=True).start()
        app.mainloop()
        warn_about_crash_reports(actions.workspace.logs_dir)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    for line in test.report:
        print(f"self-test: {line}", flush=True)
    if test.failure:
        print(f"self-test FAILED: {test.failure}", file=sys.stderr, flush=True)
        return 1
    print(f"self-test passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0
