"""The Training page's GPU count: the menu follows the GPUs the memory estimate found (all, 1..N on Linux; one and
disabled with the reason on Windows, with one GPU or none), and the count picked reaches the launcher's plan as
``processes`` while the training knobs stay free of it; a cloud run leaves it out."""
from __future__ import annotations

import json

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.training import processes, vram
from core.training.launch import LaunchError
from gui.actions import Actions
from gui.views.training_form import GPUS_ALL, gpu_choices
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.test_gui_training import TINY_MODEL, build, pump_until


def test_gpu_choices_follow_what_was_found():
    assert gpu_choices({})[:2] == ([GPUS_ALL], False)  # not counted yet: the default, all visible
    assert gpu_choices({"gpus": 0})[:2] == (["none"], False)
    assert gpu_choices({"gpus": 1})[:2] == (["1"], False)
    values, enabled, tip = gpu_choices({"gpus": 2, "several_gpus": False, "gpus_note": processes.WINDOWS_NOTE})
    assert (values, enabled) == (["1"], False) and "Linux only" in tip
    assert gpu_choices({"gpus": 3, "several_gpus": True})[:2] == ([GPUS_ALL, "1", "2", "3"], True)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(vram, "detect_gpu_count", lambda wait=None: 2)
    monkeypatch.setattr(processes, "multi_process_supported", lambda os_name=None: True)


def test_the_picked_count_reaches_the_plan_and_not_the_training_knobs(tk_root, tmp_path, monkeypatch, two_gpus):
    import core.training.launch as launch
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(TINY_MODEL), encoding="utf-8")
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(Workspace.open(tmp_path / "ws"), bus)
    assert actions.estimate_memory(str(model), "cpu-tiny", {"gpus": 2})["gpus"] == 2  # not a [training] key
    view = build(tk_root, actions, bus)
    view.base.delete(0, "end")
    view.base.insert(0, str(model))
    view.estimate()
    pump_until(tk_root, subscription, view, lambda: view.gpus.cget("state") == "normal", seconds=30)
    assert view.gpus.cget("values") == [GPUS_ALL, "1", "2"] and view.gpus.get() == GPUS_ALL
    assert "gpus" not in view.flags()  # all: decided when the run is planned
    seen = {}

    def plan(workspace, **options):
        seen.update(options)
        raise LaunchError("stop here: the test only wants the plan's arguments")

    monkeypatch.setattr(launch, "plan_new_run", plan)
    view.gpus.set("1")
    view.entries["max_steps"].insert(0, "7")
    view.start()
    pump_until(tk_root, subscription, view, lambda: bool(seen) and "stop here" in view.banner.text(), seconds=30)
    assert seen["processes"] == 1 and seen["flags"] == {"max_steps": 7}
    view.estimate()  # a later answer keeps the pick
    pump(tk_root, subscription, [view])
    pump_until(tk_root, subscription, view, lambda: view.gpus.get() == "1", seconds=30)


def test_a_cloud_start_leaves_this_machines_gpu_count_out(tk_root, tmp_path, monkeypatch, two_gpus):
    import core.training.launch as launch
    bus = EventBus()
    subscription = bus.subscribe("panel")
    view = build(tk_root, Actions(Workspace.open(tmp_path / "ws"), bus), bus)
    view.gpus.configure(values=[GPUS_ALL, "1", "2"], state="normal")
    view.gpus.set("2")
    view.entries["max_steps"].insert(0, "7")
    assert view.flags()["gpus"] == 2
    seen = {}

    def plan(workspace, **options):
        seen.update(options)
        raise LaunchError("stop here: the test only wants the plan's arguments")

    monkeypatch.setattr(launch, "plan_new_run", plan)
    view.start_cloud(3)
    pump_until(tk_root, subscription, view, lambda: bool(seen) and "stop here" in view.banner.text(), seconds=30)
    assert seen["flags"] == {"max_steps": 7} and seen["cloud"] is not None and "processes" not in seen
