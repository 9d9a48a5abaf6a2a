"""GUI test support: a virtual display (Xvfb) for the session, a Tk root per test, recording fake actions, and a
helper that pumps events into views. Import the fixtures into a test module:

    from tests.conftest_gui import gui_display, tk_root, FakeActions, pump  # noqa: F401

Without Xvfb (and without a display) the GUI tests skip with the reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCREEN = "1280x800x24"
FIRST_DISPLAY = 71


def _free_display() -> int:
    number = FIRST_DISPLAY + os.getpid() % 100  # two test sessions at once get different displays
    while Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    return number


@pytest.fixture(scope="session")
def gui_display():
    """A private Xvfb display for the whole session; yields its name (":N") and sets DISPLAY."""
    if os.name == "nt" or os.environ.get("DPS_TEST_DISPLAY"):  # Windows has a desktop; or reuse a given display
        display = os.environ.get("DPS_TEST_DISPLAY", "")
        if display:
            os.environ["DISPLAY"] = display
        yield display
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("GUI tests need Xvfb (apt install xvfb) for a virtual display")
    number = _free_display()
    display = f":{number}"
    process = subprocess.Popen(["Xvfb", display, "-screen", "0", SCREEN, "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.skip(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    yield display
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
    if previous is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = previous


@pytest.fixture
def tk_root(gui_display):
    """A CTk root window for one view; destroyed afterwards."""
    import customtkinter as ctk
    root = ctk.CTk()
    root.geometry("1100x720")
    yield root
    try:
        for after_id in root.tk.splitlist(root.tk.call("after", "info")):
            root.tk.call("after", "cancel", after_id)
        root.destroy()
    except Exception:
        pass


class FakeActions:
    """Records every verb call as (name, args, kwargs); returns ``returns[name]`` (a value, or a callable given the
    call's arguments), else None. ``raises[name]`` makes that verb raise. Attributes set on it are real attributes."""

    def __init__(self, workspace=None, returns: dict | None = None, raises: dict | None = None) -> None:
        from gui.preferences import Preferences
        self.calls: list[tuple[str, tuple, dict]] = []
        self.returns = dict(returns or {})
        self.raises = dict(raises or {})
        self.workspace = workspace
        self.preferences = Preferences(wizard_done=True)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def verb(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if name in self.raises:
                raise self.raises[name]
            value = self.returns.get(name)
            return value(*args, **kwargs) if callable(value) else value
        return verb

    def called(self, name: str) -> list[tuple[tuple, dict]]:
        return [(args, kwargs) for verb, args, kwargs in self.calls if verb == name]


def build(root, view_class, actions):
    """A page on ``root`` with its own bus: (view, bus, the panel's subscription). ``bus.watch`` records what the
    view asks of the window (OpenPage)."""
    from core.jobs.bus import EventBus
    from gui.events import OpenPage
    bus = EventBus()
    subscription = bus.subscribe("panel")
    bus.watch = bus.subscribe("test-watch", types=(OpenPage,))
    view = view_class(root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    root.update()
    return view, bus, subscription


def pump(root, bus_subscription, targets, rounds: int = 3) -> None:
    """Deliver everything queued on ``bus_subscription`` to ``targets`` and let Tk draw."""
    from gui.pump import EventPump
    event_pump = EventPump(root, bus_subscription, lambda: targets)
    for _ in range(rounds):
        event_pump.flush()
        root.update()
