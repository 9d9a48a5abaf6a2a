"""The tray icon: its colour shows the bot's state; its menu (Show panel, Open last run, Start bot, Stop bot, Quit)
publishes requests on the bus and never touches Tk; notifications where the platform has them.

``import pystray`` fails without a display (and on some desktops): it is guarded, and ``available`` says whether a
tray exists. On Linux the backend is chosen first (``gui.tray_backend``: AppIndicator or GTK, which have a menu, when
PyGObject is there; else the plain X one, and a note says what is missing). ``icon.run`` runs on a daemon thread of
its own (``run_detached`` followed by ``stop`` hangs on some backends). ``set_state`` only swaps the icon's image,
which pystray allows from any thread.

A training run's notice (``notify_run``) opens that run when clicked where the backend lets a click on a notice be
heard: pystray itself reports none, so on Windows the balloon's click message (NIN_BALLOONUSERCLICK) is caught from
pystray's message table (``hook_balloon_click``; pystray 0.19's private ``_message_handlers``, checked before use).
Elsewhere (the D-Bus notices of Linux, macOS's) a notice cannot be clicked through pystray: the notice says so and
the menu's "Open last run" opens it.
"""
from __future__ import annotations

import logging
import threading

from PIL import Image, ImageDraw

from gui.events import PANEL_JOB_ID, OpenRun, QuitApp, ShowPanel, StartBot, StopBot

SIZE = 64
COLOURS = {  # bot_controller.states.State values -> fill
    "running": (46, 160, 67),
    "starting": (230, 162, 26), "backoff": (230, 162, 26), "stopping": (230, 162, 26),
    "stopped": (128, 128, 128), "exited": (128, 128, 128),
    "fatal": (207, 34, 46),
}
PAUSED = (66, 133, 244)
ERROR = (207, 34, 46)
WIN32_NOTIFY = 0x400 + 11          # pystray's callback message for the icon (WM_USER + 11)
NIN_BALLOONUSERCLICK = 0x400 + 5   # the shell's "the balloon was clicked", delivered through that message
OPEN_LAST_RUN = "Open last run"

log = logging.getLogger(__name__)
# pystray's X backend logs a traceback each time no tray manager (a desktop panel) takes the icon; the panel works
# without one, so keep those to warnings.
logging.getLogger("pystray").setLevel(logging.CRITICAL)


def icon_colour(state: str, *, error: bool = False, paused: bool = False) -> tuple[int, int, int]:
    if error:
        return ERROR
    if paused and state == "running":
        return PAUSED
    return COLOURS.get(str(state).lower(), COLOURS["stopped"])


def icon_image(state: str, *, error: bool = False, paused: bool = False) -> Image.Image:
    """The tray image for a bot state: a speech bubble in the state's colour."""
    fill = (*icon_colour(state, error=error, paused=paused), 255)
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([2, 6, 62, 50], radius=12, fill=fill)
    draw.polygon([(14, 48), (12, 62), (28, 49)], fill=fill)
    for centre in (20, 32, 44):
        draw.ellipse([centre - 5, 19, centre + 5, 29], fill=(255, 255, 255, 255))
    return image


class TrayMenu:
    """The menu's callbacks: each publishes one request (the app answers it on the Tk thread)."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self.last_run: str | None = None  # the run of the last training notice (set on the Tk thread, read here)

    def show_panel(self, *_args) -> None:
        self.bus.publish(ShowPanel(job_id=PANEL_JOB_ID))

    def open_last_run(self, *_args) -> None:
        if self.last_run:
            self.bus.publish(OpenRun(job_id=PANEL_JOB_ID, run_id=self.last_run))

    def enabled(self, text: str) -> bool:
        return text != OPEN_LAST_RUN or self.last_run is not None

    def start_bot(self, *_args) -> None:
        self.bus.publish(StartBot(job_id=PANEL_JOB_ID))

    def stop_bot(self, *_args) -> None:
        self.bus.publish(StopBot(job_id=PANEL_JOB_ID))

    def quit(self, *_args) -> None:
        self.bus.publish(QuitApp(job_id=PANEL_JOB_ID))

    def items(self) -> list[tuple[str, object]]:
        return [("Show panel", self.show_panel), (OPEN_LAST_RUN, self.open_last_run), ("Start bot", self.start_bot),
                ("Stop bot", self.stop_bot), ("Quit", self.quit)]


def hook_balloon_click(icon, callback) -> bool:
    """On pystray's Windows backend, call ``callback()`` when the user clicks the icon's balloon; True when hooked.
    Other backends (and a pystray whose message table changed) are left alone: False."""
    handlers = getattr(icon, "_message_handlers", None)
    original = handlers.get(WIN32_NOTIFY) if isinstance(handlers, dict) else None
    if original is None:
        return False
    if getattr(original, "balloon_hook", False):
        return True

    def on_notify(wparam, lparam):
        if lparam == NIN_BALLOONUSERCLICK:
            callback()
            return 0
        return original(wparam, lparam)

    on_notify.balloon_hook = True
    handlers[WIN32_NOTIFY] = on_notify
    return True


def load_pystray():
    """The pystray module, or None (no display, no tray backend) with the reason logged once. On Linux the backend is
    chosen first (``gui.tray_backend.apply``)."""
    try:
        import pystray
    except Exception as exc:  # pystray picks a backend at import and raises when none works
        log.info("no tray icon: pystray cannot start here (%s)", exc)
        return None
    return pystray


class Tray:
    def __init__(self, bus) -> None:
        self.menu = TrayMenu(bus)
        self.state = "stopped"
        self.error = False
        self.icon = None
        self.clickable_notices = False
        self._thread: threading.Thread | None = None
        from gui import tray_backend
        self.backend = tray_backend.apply()
        self._pystray = load_pystray()

    @property
    def available(self) -> bool:
        return self.icon is not None

    def start(self) -> None:
        if self._pystray is None:
            return
        pystray = self._pystray
        menu = pystray.Menu(*(pystray.MenuItem(text, callback, default=(text == "Show panel"),
                                               enabled=lambda item: self.menu.enabled(str(item.text)))
                              for text, callback in self.menu.items()))
        try:
            self.icon = pystray.Icon("discord-persona-studio", icon_image(self.state), "Discord Persona Studio",
                                     menu)
        except Exception as exc:
            log.info("no tray icon: %s", exc)
            return
        self.clickable_notices = hook_balloon_click(self.icon, self.menu.open_last_run)
        self._thread = threading.Thread(target=self._run, daemon=True, name="tray")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.icon.run()
        except Exception as exc:  # a tray backend that fails later: the panel works without it
            log.info("the tray icon stopped: %s", exc)
            self.icon = None

    def set_state(self, state: str, *, error: bool = False, paused: bool = False) -> None:
        self.state, self.error = state, error
        if self.icon is not None:
            self.icon.icon = icon_image(state, error=error, paused=paused)
            self.icon.title = f"Discord Persona Studio: bot {state}"

    def notify(self, message: str) -> None:
        icon = self.icon
        if icon is not None and getattr(icon, "HAS_NOTIFICATION", False):
            try:
                icon.notify(message, "Discord Persona Studio")
            except Exception as exc:
                log.info("tray notification failed: %s", exc)

    def notify_run(self, message: str, run_id: str) -> None:
        """A training run's notice: clicking it (where the backend hears that) or "Open last run" opens the run."""
        self.menu.last_run = run_id
        icon = self.icon
        if icon is None:
            return
        if self.clickable_notices:
            message += " (click to open it)"
        elif getattr(icon, "HAS_MENU", False):
            message += f" (tray menu: {OPEN_LAST_RUN})"
        self.notify(message)
        try:
            icon.update_menu()  # "Open last run" is enabled now
        except Exception as exc:  # noqa: BLE001 - a backend without menus
            log.info("tray menu update: %s", exc)

    def stop(self) -> None:
        icon = self.icon
        if icon is not None:
            try:
                icon.stop()
            except Exception as exc:
                log.info("tray stop: %s", exc)
        if self._thread is not None:
            self._thread.join(2.0)
