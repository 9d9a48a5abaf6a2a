"""The control panel's window: sidebar, pages, theme, icon, the event pump, closing and quitting.

Pages are listed in ``PAGES`` as (name, sidebar title, "module:Class"); a page whose module does not exist yet is
left out of the sidebar, so the data pages plug in by landing their file. Each page is a view built from
``(master, actions, bus)`` the first time it is shown; from then on the pump delivers every event to its
``on_<event>`` handlers. Only the Tk thread touches widgets: the tray, the monitor and the jobs publish on the bus.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
from pathlib import Path

import customtkinter as ctk

from core.config.resources import asset
from gui.app_tray import TrayHandlers
from gui.events import PanelError
from gui.pump import EventPump
from gui.widgets.banner import ErrorBanner

# (name, title, view class). Order is the sidebar's; the data pages (P2) sit between Dashboard and Bot.
PAGES: list[tuple[str, str, str]] = [
    ("dashboard", "Dashboard", "gui.views.dashboard:DashboardView"),
    ("data", "Data", "gui.views.data:DataView"),
    ("personas", "Personas", "gui.views.personas:PersonasView"),
    ("dataset", "Dataset", "gui.views.dataset:DatasetView"),
    ("training", "Training", "gui.views.training:TrainingView"),
    ("models", "Models", "gui.views.models:ModelsView"),
    ("bot", "Bot", "gui.views.bot:BotView"),
    ("playground", "Playground", "gui.views.playground:PlaygroundView"),
    ("settings", "Settings", "gui.views.settings:SettingsView"),
]
WIZARD = ("wizard", "Welcome", "gui.views.wizard:WizardView")  # first run; not in the sidebar
WINDOW_SIZE = "1180x760"
ICON = ("icons", "app.png")
ICON_WINDOWS = ("icons", "app.ico")
SHUTDOWN_POLL_MS = 100

log = logging.getLogger(__name__)


def load_view_class(path: str):
    """The class at ``module:Class``, or None when that module has not landed yet."""
    module_name, class_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, class_name)


def available_pages() -> list[tuple[str, str, type]]:
    pages = []
    for name, title, path in PAGES:
        view_class = load_view_class(path)
        if view_class is not None:
            pages.append((name, title, view_class))
    return pages


class App(TrayHandlers, ctk.CTk):
    def __init__(self, actions, bus, *, tray: bool = True, monitor: bool = True, wizard: bool | None = None) -> None:
        ctk.set_appearance_mode(actions.preferences.theme)
        super().__init__()
        self.actions = actions
        self.bus = bus
        self.title("Discord Persona Studio")
        self.geometry(WINDOW_SIZE)
        self.minsize(960, 620)
        self._set_icon()
        self.grid_columnconfigure(1, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.pages = available_pages()
        self.views: dict[str, ctk.CTkFrame] = {}
        self.current: str | None = None
        self.quitting = False
        self.closed = False  # True once the window is destroyed (tests and the benchmark wait for it)
        self.training_runs: dict[str, Path] = {}  # job id -> run folder of the training jobs going (their notices)
        self._build_sidebar()
        self.content = ctk.CTkFrame(self, corner_radius=0, fg_color="transparent")
        self.content.grid(row=0, column=1, sticky="nsew")
        self.content.grid_columnconfigure(0, weight=1)
        self.content.grid_rowconfigure(1, weight=1)
        self.banner = ErrorBanner(self.content)
        self.banner.place_in_grid(row=0, column=0, sticky="ew", padx=12, pady=(10, 0))
        from gui import crash
        self.uninstall_crash_hooks = crash.install(self, lambda: self.actions.workspace.logs_dir)
        self.subscription = bus.subscribe(name="panel")
        self.pump = EventPump(self, self.subscription, self.targets, on_error=self.handler_failed)
        self.pump.start()
        self.tray = self._start_tray() if tray else None
        self.monitor = self._start_monitor() if monitor else None
        self.protocol("WM_DELETE_WINDOW", self.on_close)
        show_wizard = (not actions.preferences.wizard_done) if wizard is None else wizard
        self.show_page(WIZARD[0] if show_wizard else "dashboard")

    # -- building --------------------------------------------------------------------------------------------------
    def _set_icon(self) -> None:
        import tkinter as tk
        path = asset(*ICON)
        if path.is_file():
            self._icon_image = tk.PhotoImage(master=self, file=str(path))  # kept: Tk drops images nobody references
            self.iconphoto(True, self._icon_image)
        ico = asset(*ICON_WINDOWS)
        if sys.platform == "win32" and ico.is_file():
            self.iconbitmap(str(ico))  # the taskbar's icon; also stops CustomTkinter putting its own there

    def _build_sidebar(self) -> None:
        sidebar = ctk.CTkFrame(self, width=180, corner_radius=0)
        sidebar.grid(row=0, column=0, sticky="nsw")
        sidebar.grid_rowconfigure(len(self.pages) + 2, weight=1)
        ctk.CTkLabel(sidebar, text="Persona Studio", font=ctk.CTkFont(size=18, weight="bold")).grid(
            row=0, column=0, padx=16, pady=(18, 14))
        self.nav_buttons: dict[str, ctk.CTkButton] = {}
        for row, (name, title, _cls) in enumerate(self.pages, start=1):
            button = ctk.CTkButton(sidebar, text=title, anchor="w", corner_radius=6, fg_color="transparent",
                                   text_color=("gray10", "gray90"), hover_color=("gray75", "gray30"),
                                   command=lambda page=name: self.show_page(page))
            button.grid(row=row, column=0, sticky="ew", padx=10, pady=2)
            self.nav_buttons[name] = button
        self.workspace_label = ctk.CTkLabel(sidebar, text="", anchor="w", justify="left", wraplength=160,
                                            font=ctk.CTkFont(size=11), text_color=("gray35", "gray65"))
        self.workspace_label.grid(row=len(self.pages) + 3, column=0, sticky="ew", padx=12, pady=(4, 12))
        self._show_workspace()

    def _show_workspace(self) -> None:
        root = self.actions.workspace.root
        self.workspace_label.configure(text=f"Workspace:\n{root.name or root}")

    def _start_monitor(self):
        from gui.monitor import Monitor
        monitor = Monitor(self.bus, self.actions.disk_used)
        monitor.start()
        return monitor

    # -- pages -----------------------------------------------------------------------------------------------------
    def view_class(self, name: str):
        if name == WIZARD[0]:
            return load_view_class(WIZARD[2])
        return next((cls for page, _title, cls in self.pages if page == name), None)

    def show_page(self, name: str) -> ctk.CTkFrame | None:
        view = self.views.get(name)
        if view is None:
            view_class = self.view_class(name)
            if view_class is None:
                self.banner.show(f"the {name} page is not available yet", "pick another page in the sidebar")
                return None
            try:
                view = view_class(self.content, self.actions, self.bus)
            except Exception as exc:  # a page that cannot build must not take the window with it
                self.report_callback_exception(type(exc), exc, exc.__traceback__)
                return None
            self.views[name] = view
        if self.current is not None and self.current in self.views:
            self.views[self.current].grid_remove()
        view.grid(row=1, column=0, sticky="nsew")
        self.current = name
        for page, button in self.nav_buttons.items():
            button.configure(fg_color=("gray75", "gray25") if page == name else "transparent")
        on_show = getattr(view, "on_show", None)
        if on_show is not None:
            on_show()
        return view

    def targets(self):
        """What the pump delivers to: the app itself, the tray adapter, then every page built so far."""
        return [self, *self.views.values()]

    def handler_failed(self, target, event, exc: BaseException) -> None:
        self.report_callback_exception(type(exc), exc, exc.__traceback__)

    # -- events (the Tk thread, through the pump; the tray's are in gui.app_tray) ------------------------------------
    def on_panel_error(self, event: PanelError) -> None:
        self.banner.show(event.what, event.advice)

    def on_open_page(self, request) -> None:
        self.show_page(request.page)

    def on_workspace_switched(self, event) -> None:
        """Pages show the old workspace: rebuild them when next shown (a page in the middle of something, like the
        wizard's sample-server run, says so with ``survives_workspace_switch``)."""
        for name, view in list(self.views.items()):
            if getattr(view, "survives_workspace_switch", False):
                continue
            if name == self.current:
                self.current = None
            view.destroy()
            del self.views[name]
        self._show_workspace()
        if self.current is None:
            self.show_page("dashboard")
        if self.monitor is not None:
            self.monitor.disk_used = self.actions.disk_used

    def run_action(self, verb, *args):
        """Call a verb; an ActionError becomes the window's banner."""
        from gui.errors import ActionError
        try:
            return verb(*args)
        except ActionError as exc:
            self.banner.show(exc.what, exc.advice)
            return None

    # -- closing ---------------------------------------------------------------------------------------------------
    def on_close(self) -> None:
        if self.actions.preferences.close_to_tray and self.tray is not None and self.tray.available:
            self.withdraw()
            return
        jobs = self.actions.running_jobs()
        if not jobs:
            self.quit_app()
            return
        from gui.close_dialog import ask_close
        ask_close(self, jobs, tray=self.tray is not None and self.tray.available)

    def quit_app(self) -> None:
        """Stop every job and the bot (on a thread: the window keeps drawing), then end the Tk loop."""
        if self.quitting:
            return
        self.quitting = True
        self.banner.show("Stopping jobs and the bot…", "the window closes when they have ended", kind="info")
        done = threading.Event()
        threading.Thread(target=self._shut_down, args=(done,), daemon=True, name="panel-shutdown").start()
        self._wait_for(done)

    def _shut_down(self, done: threading.Event) -> None:
        try:
            self.actions.shutdown()
        finally:
            done.set()

    def _wait_for(self, done: threading.Event) -> None:
        if not done.is_set():
            self.after(SHUTDOWN_POLL_MS, self._wait_for, done)
            return
        self.pump.stop()
        self.subscription.close()
        if self.monitor is not None:
            self.monitor.stop()
        if self.tray is not None:
            self.tray.stop()
        self.cancel_pending_afters()
        self.quit()
        self.destroy()
        self.closed = True
        self.uninstall_crash_hooks()

    def cancel_pending_afters(self) -> None:
        """CustomTkinter schedules its own after() scripts (DPI checks, redraws); cancel them so none runs on a
        destroyed window."""
        try:
            for after_id in self.tk.splitlist(self.tk.call("after", "info")):
                # Tcl's own cancel: after_cancel would also delete the callback's command, which a child widget
                # still lists and then fails to delete when it is destroyed
                self.tk.call("after", "cancel", after_id)
        except Exception:  # the interpreter is already going
            pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launcher.py", description="Discord Persona Studio control panel")
    parser.add_argument("--workspace", type=Path, help="workspace folder (default: the per-user data folder)")
    parser.add_argument("--no-tray", action="store_true", help="no tray icon")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Open the control panel (``python launcher.py`` with no command)."""
    from core.config.secrets import install_log_redaction
    from core.config.workspace import Workspace
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    bus = EventBus()
    actions = Actions(Workspace.open(args.workspace), bus)
    try:
        app = App(actions, bus, tray=not args.no_tray)
    except Exception as exc:  # no display: say so in one line instead of a Tcl traceback
        if type(exc).__name__ == "TclError":
            print(f"error: the control panel cannot open a window ({exc}); use the command line "
                  f"(`launcher.py --help`)", file=sys.stderr)
            return 1
        raise
    app.mainloop()
    return 0
