"""Which pystray backend the tray uses on Linux, and the line that tells the user what they get with it.

pystray picks its backend when it is imported: ``PYSTRAY_BACKEND`` when set, else on Linux the first of
appindicator, gtk and xorg that imports. The first two need PyGObject (``gi``); without it (a virtual environment does
not see the system's python3-gi, and PyPI has no Linux wheel of PyGObject: pip compiles it against the system's
GObject and cairo headers) pystray falls back to its plain X backend, whose icon shows the panel when clicked but has
no menu and no notifications. And the AppIndicator backend, when it imports, is chosen even on a desktop with no
StatusNotifier host, where it may show no icon at all (GNOME without the AppIndicator extension).

So before pystray is imported, ``choose_backend`` (a pure function of what ``probe`` found) picks:

- ``appindicator`` when gi, an AppIndicator typelib (Ayatana or the older one) and a StatusNotifier host on the
  session bus are there (KDE Plasma, Cinnamon, Budgie, GNOME with the AppIndicator extension, XFCE or MATE with their
  indicator plugin): the icon in the panel with its menu, and notifications;
- ``gtk`` when gi and Gtk 3 are there but no StatusNotifier host: an XEmbed tray icon (XFCE, MATE, LXDE, i3bar...)
  with its menu on right-click, and notifications;
- ``xorg`` otherwise, with a note saying what is missing and how to install it (logged once at startup and shown on
  the Settings page).

Windows and macOS keep pystray's own choice (their backends have a menu). A ``PYSTRAY_BACKEND`` the user set wins.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
from dataclasses import dataclass

ENV = "PYSTRAY_BACKEND"
SNI_WATCHERS = ("org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher")
INDICATOR_TYPELIBS = (("AyatanaAppIndicator3", "0.1"), ("AppIndicator3", "0.1"))
INSTALL_HINT = ("for the tray menu, install PyGObject into the app's environment: "
                "`sudo apt install libgirepository1.0-dev libcairo2-dev pkg-config python3-dev "
                "gir1.2-ayatanaappindicator3-0.1` then `.venv/bin/pip install \"PyGObject<3.51\"` "
                "(Fedora: gobject-introspection-devel cairo-gobject-devel libayatana-appindicator-gtk3)")
log = logging.getLogger(__name__)
_chosen: list = []  # the choice made for this process (pystray is imported once): what Settings shows


@dataclass(frozen=True)
class Desktop:
    """What ``probe`` found: PyGObject, Gtk 3 through it, an AppIndicator typelib, a StatusNotifier host."""
    gi: bool = False
    gtk: bool = False
    indicator: bool = False
    status_notifier_host: bool = False


@dataclass(frozen=True)
class BackendChoice:
    backend: str | None    # the PYSTRAY_BACKEND to set; None: leave pystray's own choice
    menu: bool             # whether the icon will have a menu
    note: str              # what the user gets, in words (shown in Settings; logged when something is missing)


def choose_backend(platform: str, desktop: Desktop, requested: str | None = None) -> BackendChoice:
    """The backend for ``platform`` (``sys.platform``) on ``desktop``; ``requested``: the user's PYSTRAY_BACKEND."""
    if requested:
        return BackendChoice(None, requested != "xorg", f"tray backend {requested} (set by PYSTRAY_BACKEND)")
    if not platform.startswith("linux"):
        return BackendChoice(None, True, "tray icon with its menu and notifications")
    if desktop.gi and desktop.gtk and desktop.indicator and desktop.status_notifier_host:
        return BackendChoice("appindicator", True, "tray icon in the desktop's panel (AppIndicator) with its menu "
                                                   "and notifications")
    if desktop.gi and desktop.gtk:
        note = "tray icon with its menu on right-click (a GTK status icon: it needs a system tray in the panel)"
        if not desktop.status_notifier_host:
            note += "; no StatusNotifier host was found, so on GNOME it needs the AppIndicator extension"
        return BackendChoice("gtk", True, note)
    missing = "PyGObject (gi) is not importable" if not desktop.gi else "Gtk 3 could not be loaded through gi"
    return BackendChoice("xorg", False, f"tray icon without a menu or notifications ({missing}): click it to show "
                                        f"the panel; {INSTALL_HINT}")


def probe() -> Desktop:
    """Look at this machine (Linux): can gi load Gtk 3 and an AppIndicator, is a StatusNotifier host on the
    session bus? Imports nothing when gi is absent; any failure counts as "no"."""
    if importlib.util.find_spec("gi") is None:
        return Desktop()
    try:
        import gi
        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk  # noqa: F401
    except (ImportError, ValueError):
        return Desktop(gi=True)
    return Desktop(gi=True, gtk=True, indicator=_indicator_typelib(gi), status_notifier_host=_has_sni_host())


def _indicator_typelib(gi) -> bool:
    for name, version in INDICATOR_TYPELIBS:
        try:
            gi.require_version(name, version)
            return True
        except ValueError:
            continue
    return False


def _has_sni_host() -> bool:
    try:
        from gi.repository import Gio, GLib
        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        for name in SNI_WATCHERS:
            reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                  "NameHasOwner", GLib.Variant("(s)", (name,)), None, Gio.DBusCallFlags.NONE, 500,
                                  None)
            if reply.unpack()[0]:
                return True
    except Exception:  # noqa: BLE001 - no session bus (a bare X server, a container): no host
        return False
    return False


def apply(environ=os.environ, platform: str = sys.platform) -> BackendChoice:
    """Choose before ``import pystray`` and set PYSTRAY_BACKEND accordingly; logs the note once when the menu is
    missing. Returns the choice (the Settings page shows its note)."""
    requested = environ.get(ENV)
    desktop = probe() if platform.startswith("linux") and not requested else Desktop()
    choice = choose_backend(platform, desktop, requested)
    if choice.backend is not None:
        environ[ENV] = choice.backend
    if not choice.menu:
        log.warning("tray: %s", choice.note)
    _chosen[:] = [choice]
    return choice


def chosen() -> BackendChoice | None:
    """The choice ``apply`` made in this process, or None when no tray was started (``--no-tray``)."""
    return _chosen[0] if _chosen else None
