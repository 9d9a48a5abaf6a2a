"""Crash reports: an exception in a Tk callback or on any thread is written, redacted, to WORKSPACE/logs/ and shown
as a readable banner ("what failed, what to do"), never as a traceback dialog.

``install(root, logs_dir)`` hooks ``root.report_callback_exception`` (Tk callbacks), ``sys.excepthook`` (the main
thread outside Tk) and ``threading.excepthook`` (other threads: those publish a PanelError on the bus rather than
touching Tk). Tokens are removed with ``core.config.secrets.redact`` before anything is written.
"""
from __future__ import annotations

import datetime as dt
import logging
import platform
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

from core.config.secrets import redact
from core.config.workspace import atomic_write_text

PREFIX = "crash-"

log = logging.getLogger(__name__)


def write_report(logs_dir: Path, exc_type, exc, tb, *, where: str = "") -> Path | None:
    """Write one redacted report; returns its path (None when even that fails: the banner still shows)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    body = (f"Discord Persona Studio crash report\nwhen: {dt.datetime.now().isoformat(timespec='seconds')}\n"
            f"where: {where or 'unknown'}\npython: {sys.version.split()[0]} on {platform.platform()}\n\n{text}")
    path = Path(logs_dir) / f"{PREFIX}{stamp}.txt"
    try:
        atomic_write_text(path, redact(body))
    except OSError:
        log.exception("could not write a crash report to %s", path)
        return None
    return path


def summary(exc_type, exc) -> str:
    return redact(f"{exc_type.__name__}: {exc}".strip().rstrip(":"))[:300]


def install(root, logs_dir: Callable[[], Path]) -> Callable[[], None]:
    """Hook the three places an exception can escape to; ``logs_dir`` is read at crash time (workspaces switch).
    Returns the function that removes the process-wide hooks again."""

    def tk_callback(exc_type, exc, tb) -> None:
        path = write_report(logs_dir(), exc_type, exc, tb, where="a window callback")
        log.error("panel callback failed: %s (report: %s)", summary(exc_type, exc), path)
        show(root, exc_type, exc, path)

    def main_thread(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        path = write_report(logs_dir(), exc_type, exc, tb, where="the main thread")
        print(f"error: {summary(exc_type, exc)} (crash report: {path})", file=sys.stderr)

    def other_thread(args) -> None:
        path = write_report(logs_dir(), args.exc_type, args.exc_value, args.exc_traceback,
                            where=f"thread {args.thread.name if args.thread else '?'}")
        from gui.events import PANEL_JOB_ID, PanelError
        bus = getattr(root, "bus", None)
        if bus is not None:  # only the pump touches Tk: publish, never show from here
            bus.publish(PanelError(job_id=PANEL_JOB_ID, what=f"a background task failed: "
                                   f"{summary(args.exc_type, args.exc_value)}",
                                   advice=advice(path), details={"report": str(path or "")}))

    previous = (sys.excepthook, threading.excepthook)
    root.report_callback_exception = tk_callback
    sys.excepthook = main_thread
    threading.excepthook = other_thread

    def uninstall() -> None:
        """Put the process hooks back (the window is gone; a test process goes on)."""
        if sys.excepthook is main_thread:
            sys.excepthook = previous[0]
        if threading.excepthook is other_thread:
            threading.excepthook = previous[1]
    return uninstall


def advice(path: Path | None) -> str:
    if path is None:
        return "the crash report could not be written; the log has the details"
    return f"a crash report was written to {path}; the window keeps working, try again or restart the app"


def show(root, exc_type, exc, path: Path | None) -> None:
    banner = getattr(root, "banner", None)
    if banner is not None:
        banner.show(f"Something went wrong: {summary(exc_type, exc)}", advice(path))
