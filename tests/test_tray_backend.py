"""The Linux tray backend choice (``gui.tray_backend.choose_backend``, a pure function of what was found), what it says
to the user, and ``apply`` on this machine (its venv has no PyGObject: the plain X backend and the install hint)."""
from __future__ import annotations

import importlib.util

import pytest

from gui.tray_backend import ENV, INSTALL_HINT, Desktop, apply, choose_backend, probe
from tests.conftest_gui import gui_display, tk_root  # noqa: F401 (fixtures)

EVERYTHING = Desktop(gi=True, gtk=True, indicator=True, status_notifier_host=True)


def test_linux_with_pygobject_appindicator_and_a_status_notifier_host_gets_the_appindicator_menu():
    choice = choose_backend("linux", EVERYTHING)
    assert (choice.backend, choice.menu) == ("appindicator", True)
    assert "menu" in choice.note and INSTALL_HINT not in choice.note


def test_without_a_status_notifier_host_or_appindicator_gtk_keeps_the_menu():
    no_host = choose_backend("linux", Desktop(gi=True, gtk=True, indicator=True))
    assert (no_host.backend, no_host.menu) == ("gtk", True) and "AppIndicator extension" in no_host.note
    no_typelib = choose_backend("linux", Desktop(gi=True, gtk=True, status_notifier_host=True))
    assert (no_typelib.backend, no_typelib.menu) == ("gtk", True)


@pytest.mark.parametrize("desktop, missing", [(Desktop(), "PyGObject (gi) is not importable"),
                                              (Desktop(gi=True), "Gtk 3 could not be loaded")])
def test_without_pygobject_it_is_the_plain_x_icon_and_the_note_says_how_to_get_the_menu(desktop, missing):
    choice = choose_backend("linux", desktop)
    assert (choice.backend, choice.menu) == ("xorg", False)
    assert missing in choice.note and "click it to show the panel" in choice.note
    assert "gir1.2-ayatanaappindicator3-0.1" in choice.note and "pip install" in choice.note


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_keep_pystrays_own_backend(platform):
    choice = choose_backend(platform, Desktop())
    assert choice.backend is None and choice.menu


def test_a_backend_the_user_named_wins():
    choice = choose_backend("linux", EVERYTHING, requested="xorg")
    assert choice.backend is None and not choice.menu and "PYSTRAY_BACKEND" in choice.note


def test_apply_on_this_machine_sets_pystray_backend_before_the_import(caplog, monkeypatch):
    from gui import tray_backend
    monkeypatch.setattr(tray_backend, "_chosen", [])
    environ: dict[str, str] = {}
    found = probe()
    choice = apply(environ, platform="linux")
    assert choice == choose_backend("linux", found)
    assert environ[ENV] == choice.backend
    if importlib.util.find_spec("gi") is None:  # this project's venv: no PyGObject
        assert found == Desktop() and environ[ENV] == "xorg"
        assert any("tray icon without a menu" in record.getMessage() for record in caplog.records)
    assert apply({ENV: "gtk"}, platform="linux").backend is None  # left as the user set it
    windows: dict[str, str] = {}
    assert apply(windows, platform="win32").backend is None and windows == {}


def test_the_settings_page_says_what_the_tray_gives(tk_root, workspace, monkeypatch):
    from gui import tray_backend
    from gui.views.settings import SettingsView
    from tests.conftest_gui import FakeActions, build
    monkeypatch.setattr(tray_backend, "_chosen", [])
    view, _bus, _sub = build(tk_root, SettingsView, FakeActions(workspace, returns={"token_status": ""}))
    assert view.tray_note.cget("text") == "" and not view.tray_note.winfo_ismapped()  # --no-tray: nothing to say
    view.destroy()
    monkeypatch.setattr(tray_backend, "probe", lambda: Desktop())
    apply({}, platform="linux")
    view, _bus, _sub = build(tk_root, SettingsView, FakeActions(workspace, returns={"token_status": ""}))
    assert view.tray_note.cget("text").startswith("Tray: tray icon without a menu or notifications")
    assert view.tray_note.winfo_ismapped() and "gir1.2-ayatanaappindicator3-0.1" in view.tray_note.cget("text")
