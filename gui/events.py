"""The panel's own events and requests: what the tray, the monitoring sampler and the panel's actions publish.

They travel on the same bus as the jobs' events, so one pump delivers everything to the views on the Tk thread.
Requests (imperative names) come from the tray, which must never touch Tk: the app answers them in its handlers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.jobs.events import Event, Request

PANEL_JOB_ID = "panel"  # job_id on everything the panel publishes about itself


@dataclass(frozen=True)
class ResourcesSampled(Event):
    """CPU, RAM, GPU and workspace disk figures (gui.monitor, every 2 s). ``gpu`` empty and ``gpu_note`` set when
    there is no NVIDIA GPU; ``disk_bytes`` is None until the first walk of the workspace finishes."""
    cpu_percent: float = 0.0
    ram_used: int = 0
    ram_total: int = 0
    gpus: tuple[dict[str, Any], ...] = ()
    gpu_note: str = ""
    disk_bytes: int | None = None


@dataclass(frozen=True)
class PanelError(Event):
    """Something failed in the panel itself: ``what`` failed, ``advice`` says what to do (shown in a banner)."""
    what: str = ""
    advice: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceSwitched(Event):
    """The panel now works on another workspace (the sample server's, or one chosen in Settings)."""
    root: str = ""


@dataclass(frozen=True)
class OpenPage(Request):
    """A view asks the window to show another page (views never import each other)."""
    page: str = ""


@dataclass(frozen=True)
class ShowPanel(Request):
    """Tray: bring the window back."""


@dataclass(frozen=True)
class StartBot(Request):
    """Tray: start the bot."""


@dataclass(frozen=True)
class StopBot(Request):
    """Tray: stop the bot."""


@dataclass(frozen=True)
class QuitApp(Request):
    """Tray: quit the whole app (jobs and the bot are stopped)."""


@dataclass(frozen=True)
class OpenRun(Request):
    """Tray (a training notice clicked, or "Open last run"): show the panel on this run (the Models page)."""
    run_id: str = ""
