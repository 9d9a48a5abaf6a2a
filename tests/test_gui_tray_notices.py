"""The tray's notice at the end of a training run: how it ended and its final loss, or the one-line reason it failed
(``core.training.notices`` on run folders as a run writes them, tests/run_folders.py); the panel turning the run's
ending event into that notice; and opening the run from it: the menu's "Open last run" everywhere there is a menu, a
click on the balloon on Windows (pystray's message table, faked here: there is no Windows machine in CI)."""
from __future__ import annotations

import threading

import pytest

from core.config.secrets import REDACTED
from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, JobFinished, JobLaunched
from core.training.notices import one_line, training_notice
from gui.events import OpenRun
from gui.tray import NIN_BALLOONUSERCLICK, OPEN_LAST_RUN, WIN32_NOTIFY, Tray, TrayMenu, hook_balloon_click
from tests.conftest_gui import gui_display  # noqa: F401 (fixture)
from tests.run_folders import loss_at, prepare_sample, record_run


@pytest.fixture(scope="module")
def ended_runs(tmp_path_factory):
    workspace = Workspace.open(tmp_path_factory.mktemp("notices") / "ws")
    data_dir = prepare_sample(workspace)
    finished = record_run(workspace, data_dir, flags={"max_steps": 30}, steps=30)
    stopped = record_run(workspace, data_dir, flags={"max_steps": 60}, steps=25, ending="stopped")
    failed = record_run(workspace, data_dir, flags={"max_steps": 60}, steps=7, ending="failed",
                        failure="CUDA out of memory. Tried to allocate 1.50 GiB")
    return workspace, finished, stopped, failed


def personas_of(run_dir) -> str:
    from core.training.compare import dataset_stats, persona_names
    from core.jobs.runs import read_config
    names = persona_names(dataset_stats(read_config(run_dir)["data_dir"]))
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


class FakeIcon:
    """What Tray uses of a pystray icon; HAS_MENU as on the AppIndicator, GTK, Windows and macOS backends."""
    HAS_NOTIFICATION = True
    HAS_MENU = True

    def __init__(self):
        self.notes, self.menu_updates = [], 0

    def notify(self, message, title):
        self.notes.append(message)

    def update_menu(self):
        self.menu_updates += 1


def test_finished_stopped_and_failed_runs_each_get_their_notice(ended_runs):
    _workspace, finished, stopped, failed = ended_runs
    ending = JobFinished(status="finished", step=30, result={"final_loss": loss_at(30, 3.4, 1.8)})
    assert training_notice(ending, finished) == (f"Training finished: {personas_of(finished)} run {finished.name}, "
                                                 f"30 steps, final loss {loss_at(30, 3.4, 1.8):.2f}")
    assert personas_of(finished).startswith("Pixel") or "," in personas_of(finished)
    # the runner's own ending (the worker exited 0 without one) has no result: state.json's loss is used
    assert training_notice(JobFinished(status="finished"), finished).endswith(
        f"30 steps, final loss {loss_at(30, 3.4, 1.8):.2f}")
    assert training_notice(JobFinished(status="stopped", step=25), stopped) == (
        f"Training stopped at step 25 (saved): {personas_of(stopped)} run {stopped.name}")
    assert training_notice(JobFinished(status="stopped", step=31), stopped).startswith(
        "Training stopped at step 31 (saved at step 25)")
    assert training_notice(JobFailed(message="CUDA out of memory. Tried to allocate 1.50 GiB\nTraceback ..."),
                           failed) == "Training failed: CUDA out of memory. Tried to allocate 1.50 GiB"


def test_a_failure_reason_is_one_line_cut_short_and_never_shows_a_token():
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
    assert one_line(f"\n\n  login failed   for {token}\nTraceback") == f"login failed for {REDACTED}"
    long = one_line("x" * 500)
    assert len(long) == 140 and long.endswith("…")
    assert one_line("") == "no reason given"


def test_open_last_run_is_off_until_a_notice_then_publishes_the_run():
    bus = EventBus()
    subscription = bus.subscribe("panel")
    menu = TrayMenu(bus)
    callbacks = dict(menu.items())
    assert not menu.enabled(OPEN_LAST_RUN) and menu.enabled("Show panel")
    callbacks[OPEN_LAST_RUN](None, None)
    assert subscription.drain(timeout=0.1) == []
    menu.last_run = "20261207-093012-train-1a2b"
    assert menu.enabled(OPEN_LAST_RUN)
    callbacks[OPEN_LAST_RUN](None, None)
    assert subscription.drain(timeout=1) == [OpenRun(job_id="panel", run_id="20261207-093012-train-1a2b")]


def test_on_windows_clicking_the_balloon_opens_the_run_and_other_clicks_reach_pystray():
    bus = EventBus()
    subscription = bus.subscribe("panel")
    tray = Tray(bus)
    reached = []

    class Win32Icon(FakeIcon):
        def __init__(self):
            super().__init__()
            self._message_handlers = {WIN32_NOTIFY: lambda wparam, lparam: reached.append(lparam)}

    tray.icon = Win32Icon()
    assert hook_balloon_click(tray.icon, tray.menu.open_last_run) and hook_balloon_click(tray.icon, print)
    tray.clickable_notices = True
    tray.notify_run("Training finished: run A, 3 steps, final loss 1.84", "run-a")
    assert tray.icon.notes == ["Training finished: run A, 3 steps, final loss 1.84 (click to open it)"]
    handler = tray.icon._message_handlers[WIN32_NOTIFY]
    handler(0, 0x202)  # WM_LBUTTONUP on the icon: pystray's own handling (the default item)
    assert reached == [0x202] and subscription.drain(timeout=0.1) == []
    handler(0, NIN_BALLOONUSERCLICK)
    assert subscription.drain(timeout=1) == [OpenRun(job_id="panel", run_id="run-a")] and reached == [0x202]
    assert not hook_balloon_click(FakeIcon(), print)  # the D-Bus and macOS backends: nothing to hook


def test_the_panel_notices_a_run_ending_and_the_menu_opens_it_on_the_models_page(gui_display, ended_runs):
    from tests.test_gui_app import open_app, pump_until
    workspace, finished, _stopped, failed = ended_runs
    app = open_app(workspace, monitor=False)
    try:
        tray = Tray(app.bus)
        tray.icon = FakeIcon()
        app.tray = tray
        app.bus.publish(JobLaunched(job_id="train-9", name="train", pid=1, run_dir=str(finished)))
        app.bus.publish(JobLaunched(job_id="export-1", name="export", pid=2, run_dir=str(finished / "export")))
        app.bus.publish(JobFinished(job_id="export-1", status="finished"))  # not training: no notice
        app.bus.publish(JobFinished(job_id="train-9", status="finished", step=30,
                                    result={"final_loss": loss_at(30, 3.4, 1.8)}))
        assert pump_until(app, lambda: tray.icon.notes, 5)
        (note,) = tray.icon.notes
        assert note.startswith(f"Training finished: {personas_of(finished)} run {finished.name}, 30 steps")
        assert note.endswith(f"final loss {loss_at(30, 3.4, 1.8):.2f} (tray menu: {OPEN_LAST_RUN})")
        assert tray.menu.last_run == finished.name and tray.icon.menu_updates == 1
        app.withdraw()
        clicked = threading.Thread(target=dict(tray.menu.items())[OPEN_LAST_RUN], args=(None, None), name="tray")
        clicked.start()  # pystray calls menu items on its own thread
        clicked.join()
        assert pump_until(app, lambda: app.current == "models" and app.state() == "normal", 5)
        view = app.views["models"]
        assert view.selected is not None and view.selected.run_id == finished.name
        app.bus.publish(JobLaunched(job_id="train-10", name="train", pid=3, run_dir=str(failed)))
        app.bus.publish(JobFailed(job_id="train-10", message="CUDA out of memory. Tried to allocate 1.50 GiB"))
        assert pump_until(app, lambda: len(tray.icon.notes) == 2, 5)
        assert tray.icon.notes[1] == f"Training failed: CUDA out of memory. Tried to allocate 1.50 GiB " \
                                     f"(tray menu: {OPEN_LAST_RUN})"
        app.bus.publish(OpenRun(run_id=failed.name))
        assert pump_until(app, lambda: view.selected.run_id == failed.name, 5)
        assert "failed: CUDA out of memory. Tried to allocate 1.50 GiB" in view.details.cget("text")
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
