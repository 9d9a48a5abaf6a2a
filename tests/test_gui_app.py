"""The whole panel on a virtual display: every page visited through its sidebar button (the registry decides which
pages exist) with a screenshot each and no exception in the Tk loop; tray requests reach the window; closing while
a job runs asks, and quitting stops the job's real process (tests/test_gui_process.py: the panel as a process).

Set DPS_UPDATE_SCREENSHOTS=1 to write the screenshots to docs/screenshots/ (the README shows them)."""
from __future__ import annotations

import os
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest_gui import gui_display  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
FAKE_WORKER = ROOT / "tests" / "fake_worker.py"
ML_STACK = ("torch", "transformers", "trl", "peft", "unsloth", "llama_cpp", "sentence_transformers", "lancedb",
            "sky")  # SkyPilot: the cloud worker runs `sky`, the panel never imports it


def seed_sample(workspace) -> None:
    """The sample server imported and prepared, so the pages show real data."""
    from core.config.app_config import load_config
    from core.config.resources import asset
    from core.dataset.pipeline import prepare_dataset
    from core.dataset.writer import set_latest
    from core.ingest.importer import import_paths
    with closing(workspace.connect()) as conn:
        import_paths(conn, [asset("sample_server", "export")])
        prepare_dataset(conn, load_config(workspace.config_path).dataset, workspace.datasets_dir / "sample-server")
    set_latest(workspace.datasets_dir, workspace.datasets_dir / "sample-server")  # as `prepare` does


def open_app(workspace, **options):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    from gui.app import App
    bus = EventBus()
    actions = Actions(workspace, bus)
    options.setdefault("tray", False)
    options.setdefault("wizard", False)
    app = App(actions, bus, **options)
    app.update()
    return app


def settle(app, seconds: float = 0.4) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.update()
        time.sleep(0.02)


def pump_until(app, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            app.update()
        except Exception:  # the window was destroyed (quit)
            return predicate()
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def screenshot(app, display: str, path: Path):
    from PIL import ImageGrab
    x, y, width, height = app.winfo_rootx(), app.winfo_rooty(), app.winfo_width(), app.winfo_height()
    image = ImageGrab.grab(xdisplay=display).crop((x, y, x + width, y + height))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").quantize(colors=128).save(path, optimize=True)  # small PNGs for the README
    return image


def crash_reports(workspace) -> list[Path]:
    return sorted(workspace.logs_dir.glob("crash-*.txt"))


@pytest.mark.slow
def test_every_page_opens_from_the_sidebar_with_a_screenshot_and_no_error(gui_display, workspace, tmp_path):
    from gui.app import PAGES, available_pages
    seed_sample(workspace)
    app = open_app(workspace, monitor=True)
    try:
        pages = [name for name, _title, _cls in available_pages()]
        assert pages == [name for name, _t, _p in PAGES if name in pages]  # the registry's order
        assert {"dashboard", "bot", "playground", "settings"} <= set(pages)
        target = SCREENSHOTS if os.environ.get("DPS_UPDATE_SCREENSHOTS") else tmp_path
        for name in pages:
            app.nav_buttons[name].invoke()
            settle(app, 2.5)  # the dashboard waits for a monitor sample, the data pages for their background reads
            if name == "personas":  # someone picked: the Style section shows the profile the prepare computed
                view = app.views[name]
                view.select(view.people[0].id)
                settle(app, 0.5)
                assert view.style_state["status"] == "ready", view.style_state
            assert app.current == name and app.views[name].winfo_ismapped()
            image = screenshot(app, gui_display, target / f"{name}.png")
            assert len(image.getcolors(1 << 16) or range(1 << 16)) > 8, f"{name} looks blank"
            assert not crash_reports(workspace), crash_reports(workspace)[0].read_text()
            assert not app.banner.visible, app.banner.text()
        app.show_page("wizard")
        settle(app)
        screenshot(app, gui_display, target / "wizard.png")
        assert app.views["dashboard"].cpu.cget("text").endswith(" %")  # a monitor sample arrived
        assert (target / "dashboard.png").stat().st_size < 200_000
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
    assert not crash_reports(workspace)


def test_tray_requests_reach_the_window_and_show_why_the_bot_cannot_start(gui_display, workspace):
    from gui.events import ShowPanel, StartBot
    app = open_app(workspace)
    try:
        app.withdraw()
        app.bus.publish(ShowPanel())
        assert pump_until(app, lambda: app.state() == "normal", 5)
        app.bus.publish(StartBot())  # no token in the (memory) keyring
        assert pump_until(app, lambda: app.banner.visible, 5)
        assert app.banner.text().startswith("no bot token yet")
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)


def test_close_to_tray_hides_the_window(gui_display, workspace):
    app = open_app(workspace)

    class FakeTray:
        available = True

        def set_state(self, *args, **kwargs):
            pass

        def stop(self):
            pass

    try:
        app.tray = FakeTray()
        app.actions.preferences.close_to_tray = True
        app.on_close()
        app.update()
        assert app.state() == "withdrawn" and not app.quitting
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)


def test_the_tray_icon_follows_the_bot_and_notifies_on_crashes_and_training_ends(gui_display, workspace):
    from bot_controller.protocol import BotStateChanged
    from core.jobs.events import JobFailed, JobLaunched, JobStateChanged
    from core.jobs.runs import create_run

    class RecordingTray:
        available = True

        def __init__(self):
            self.states, self.notes, self.runs = [], [], []

        def set_state(self, state, error=False, paused=False):
            self.states.append((state, error))

        def notify(self, message):
            self.notes.append(message)

        def notify_run(self, message, run_id):
            self.notes.append(message)
            self.runs.append(run_id)

        def stop(self):
            pass

    app = open_app(workspace)
    run_dir = create_run(workspace.runs_dir, {"kind": "train"})
    try:
        app.tray = tray = RecordingTray()
        app.bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting"))
        app.bus.publish(BotStateChanged(job_id="bot", state="backoff", previous="running", reason="crashed",
                                        error=True))
        app.bus.publish(JobLaunched(job_id="train-1", name="train", pid=1, run_dir=str(run_dir)))
        app.bus.publish(JobStateChanged(job_id="train-1", name="train", state="failed", previous="running"))
        app.bus.publish(JobFailed(job_id="train-1", message="CUDA out of memory.\nTried to allocate 2 GiB"))
        assert pump_until(app, lambda: len(tray.notes) == 2, 5)
        assert tray.states == [("running", False), ("backoff", True)]
        assert tray.notes == ["The bot stopped: crashed", "Training failed: CUDA out of memory."]
        assert tray.runs == [run_dir.name]
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)


def test_switching_workspace_rebuilds_the_pages(gui_display, workspace):
    other = workspace.root / "other"
    seed_sample(type(workspace).open(other))
    app = open_app(workspace)
    try:
        before = app.views["dashboard"]
        assert before.messages.cget("text").startswith("0 ")
        app.actions.switch_workspace(other)
        assert pump_until(app, lambda: app.views.get("dashboard") not in (None, before), 5)
        assert app.views["dashboard"].messages.cget("text").startswith("2,033")
        assert app.workspace_label.cget("text") == "Workspace:\nother"
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)


def test_closing_while_a_job_runs_asks_and_quitting_stops_the_real_process(gui_display, workspace):
    import psutil
    from core.jobs.specs import JobSpec
    from gui.events import QuitApp
    app = open_app(workspace)
    job_id = app.actions.start_job(JobSpec(name="train", argv=(sys.executable, str(FAKE_WORKER), "--steps", "100000",
                                                                "--step-seconds", "0.05"), stop_grace=10.0))
    job = app.actions.runner.get(job_id)
    assert pump_until(app, lambda: job.state == "running", 20)
    pid = job.process.pid
    app.on_close()
    dialog = app.close_dialog
    assert dialog.winfo_exists() and "1 job(s) still running (train)" in dialog.winfo_children()[0].cget("text")
    dialog.cancel_button.invoke()
    assert not app.quitting and job.running
    app.bus.publish(QuitApp())  # the tray's Quit: the same path as "Stop jobs and quit"
    pump_until(app, lambda: not job.running, 30)
    assert not job.running and job.state == "stopped"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_failing_page_handler_becomes_a_crash_report_and_a_banner(gui_display, workspace):
    from core.jobs.events import LogLine

    class BrokenPage:
        def on_log_line(self, event):
            raise KeyError("missing column 'loss'")

    app = open_app(workspace)
    try:
        app.pump.targets = lambda: [*app.targets(), BrokenPage()]
        app.bus.publish(LogLine(job_id="train-1", text="step 1"))
        assert pump_until(app, lambda: app.banner.visible, 5)
        assert app.banner.text().startswith("Something went wrong: KeyError: \"missing column 'loss'\"")
        (report,) = crash_reports(workspace)
        assert "BrokenPage" not in app.banner.text() and "on_log_line" in report.read_text(encoding="utf-8")
        assert str(report) in app.banner.text()
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
