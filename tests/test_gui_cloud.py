"""The Training page's "Train in the cloud": Start counts whose messages the upload sends and asks with that
sentence; Upload starts the cloud worker through the real Actions and JobRunner against the stand-in ``sky``
(tests/fake_sky.py, replaying a real worker's recorded output), and the page shows the run as it shows a local one
(progress, the loss chart, the log, the ending); Cancel uploads nothing; without ``sky`` the banner says what to
install and the task file stays."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import ProgressReported
from core.jobs.runner import JobRunner
from gui.actions import Actions
from tests import fake_sky
from tests.conftest import run_cli
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.test_cloud_run import RECORDED, recorded_events
from tests.tiny_run import OPTED_OUT_USER, SAMPLE_EXPORT


@pytest.fixture
def page(tk_root, tmp_path, monkeypatch):
    workspace = Workspace.open(tmp_path / "ws")
    for argv in (("import", str(SAMPLE_EXPORT)), ("personas", "optout", OPTED_OUT_USER), ("prepare",)):
        code, _out, err = run_cli(*argv, workspace=workspace)
        assert code == 0, err[-2000:]
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(workspace, bus, JobRunner(bus))
    from gui.views.training import TrainingView
    view = TrainingView(tk_root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    tk_root.update()
    yield view, actions, subscription
    actions.runner.shutdown(timeout=5).join(10)


def pump_until(root, subscription, view, condition, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: status {view.status!r}, banner {view.banner.text()!r}, "
                                 f"log {view.log.get_text()[-600:]!r}")
        pump(root, subscription, [view], rounds=1)
        view.log.flush()
        time.sleep(0.02)


def ask(root, subscription, view):
    view.cloud_choice.select()
    view.preset.set("cpu-tiny")
    view.start_button.invoke()
    pump_until(root, subscription, view, lambda: view.cloud_dialog is not None or view.banner.text(), 60)
    assert view.cloud_dialog is not None, view.banner.text()
    return view.cloud_dialog


def test_the_cloud_choice_asks_whose_messages_leave_then_follows_the_run_like_a_local_one(page, tk_root, tmp_path,
                                                                                          monkeypatch):
    from core.dataset.leaving import people_leaving
    from core.dataset.writer import latest_dataset
    view, actions, subscription = page
    fake_sky.install(tmp_path / "bin", tmp_path / "sky-state")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SKY_REPLAY", str(RECORDED))
    people = people_leaving(latest_dataset(actions.workspace.datasets_dir))
    dialog = ask(tk_root, subscription, view)
    assert f"the messages of {people} people" in dialog.text and "rented cloud GPU" in dialog.text
    assert not actions.workspace.runs_dir.exists() or not any(actions.workspace.runs_dir.iterdir())
    dialog.upload_button.invoke()
    pump_until(tk_root, subscription, view, lambda: view.status == "finished")
    recorded = [event for event in recorded_events(ProgressReported) if not event.is_phase]
    assert sorted(view.curves["loss"]) == [event.step for event in recorded if event.message == "sft"]
    assert sorted(view.curves["DPO loss"]) == [event.step for event in recorded if event.message == "dpo"]
    assert "sky | Job submitted, ID: 1" in view.log.get_text() and "torn down" in view.log.get_text()
    assert (view.run_dir / "adapter").is_dir() and (view.run_dir / "cloud" / "task.yaml").is_file()
    assert "sky" not in sys.modules  # SkyPilot never loads in the panel's process


def test_cancel_uploads_nothing_and_without_sky_the_banner_says_what_to_install(page, tk_root, monkeypatch):
    view, actions, subscription = page
    ask(tk_root, subscription, view).cancel_button.invoke()
    tk_root.update()
    assert not actions.workspace.runs_dir.exists() or not any(actions.workspace.runs_dir.iterdir())
    assert view.start_button.cget("state") == "normal" and not actions.runner.jobs()
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]))
    assert shutil.which("sky") is None
    view.cloud_dialog = None
    ask(tk_root, subscription, view).upload_button.invoke()
    pump_until(tk_root, subscription, view, lambda: "SkyPilot is not installed" in view.banner.text())
    assert "pip install -r requirements-cloud.txt" in view.banner.text() and "sky check" in view.banner.text()
    (run_dir,) = list(actions.workspace.runs_dir.iterdir())
    assert (run_dir / "cloud" / "task.yaml").is_file() and not actions.runner.jobs()
    assert view.start_button.cget("state") == "normal"
