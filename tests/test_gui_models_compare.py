"""Runs side by side on the Models page, with the real Actions on run folders in the format a run writes
(tests/run_folders.py): tick two runs (or ctrl-click), Compare, and the window overlays their loss and eval-loss curves
in one colour per run with the run ids in the legend, over the table ``runs compare`` prints. Also the screenshot
(DPS_UPDATE_SCREENSHOTS=1 writes docs/screenshots/models-compare.png)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.runner import JobRunner
from core.training import compare
from gui.actions import Actions
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.eval_fixture import write_eval
from tests.run_folders import prepare_sample, record_run

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Three runs of the sample server: lr 1e-3 r 8 (evaluated), lr 5e-4 r 16 stopped early, lr 2e-4 r 16."""
    workspace = Workspace.open(tmp_path_factory.mktemp("models-compare") / "ws")
    data_dir = prepare_sample(workspace)
    runs = [record_run(workspace, data_dir, flags={"max_steps": 80, "lora_r": 8, "learning_rate": 1e-3}, steps=80,
                       start=3.3, floor=1.7, tokens_per_second=880.0),
            record_run(workspace, data_dir, flags={"max_steps": 80, "lora_r": 16, "learning_rate": 5e-4}, steps=45,
                       start=3.5, floor=2.0, tokens_per_second=760.0, ending="stopped"),
            record_run(workspace, data_dir, flags={"max_steps": 80, "lora_r": 16, "learning_rate": 2e-4}, steps=80,
                       start=3.6, floor=2.3, tokens_per_second=820.0, eval_every=20)]
    write_eval(runs[0])
    return workspace, runs


@pytest.fixture
def page(tk_root, three_runs):
    from gui.views.models import ModelsView
    workspace, runs = three_runs
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(workspace, bus, JobRunner(bus))
    view = ModelsView(tk_root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    tk_root.update()
    yield view, subscription, runs
    if view.compare_dialog is not None and view.compare_dialog.winfo_exists():
        view.compare_dialog.destroy()
    actions.runner.shutdown(timeout=5).join(10)


def pump_until(root, subscription, view, condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out; banner: {view.banner.text()!r}"
        pump(root, subscription, [view], rounds=1)
        time.sleep(0.02)


def dialog_open(view) -> bool:
    return view.compare_dialog is not None and view.compare_dialog.winfo_exists()


def test_ticking_two_runs_and_compare_overlays_their_curves_and_shows_the_table(tk_root, page):
    view, subscription, runs = page
    first, second, _third = runs
    assert view.compare_button.cget("state") == "disabled"
    view.ticks[second.name].toggle()  # ticked in any order, the table keeps the list's order
    assert view.compare_button.cget("state") == "disabled"
    view.ticks[first.name].toggle()
    assert view.compare_button.cget("state") == "normal" and view.compare_hint.cget("text") == "2 runs ticked"
    view.compare_button.invoke()
    pump_until(tk_root, subscription, view, lambda: dialog_open(view))
    dialog = view.compare_dialog
    order = [summary.run_id for summary in view.summaries]  # newest first
    shown = sorted([first.name, second.name], key=order.index)
    expected = compare.compare_runs(view.actions.workspace.runs_dir, shown)
    assert [facts.run_id for facts in dialog.found] == shown
    for chart, curve in ((dialog.loss_chart, "loss"), (dialog.eval_chart, "eval_loss")):
        assert list(chart.lines) == shown
        for facts in expected:
            steps, values = chart.series(facts.run_id)
            assert list(zip(steps, values)) == list(getattr(facts, curve))
        legend = chart.axes.get_legend()
        assert [text.get_text() for text in legend.get_texts()] == shown
    colours = {run_id: line.get_color() for run_id, line in dialog.loss_chart.lines.items()}
    assert len(set(colours.values())) == 2
    assert colours == {run_id: line.get_color() for run_id, line in dialog.eval_chart.lines.items()}
    for label, cells in compare.rows(expected):
        assert [dialog.cell(label, index) for index in range(2)] == cells
    column = {run_id: index for index, run_id in enumerate(shown)}
    assert dialog.cell("lora_r", column[second.name]) == "16" and dialog.cell("lora_r", column[first.name]) == "8"
    assert dialog.cell("attribution (tuned)", column[second.name]) == "not evaluated"
    assert dialog.cell("attribution (tuned)", column[first.name]).endswith("%)")


def test_ctrl_click_ticks_a_run_and_the_reading_happens_off_the_tk_thread(tk_root, page, monkeypatch):
    view, subscription, runs = page
    readers = []
    real_read = compare.read_run

    def read_run(run_dir):
        readers.append(threading.current_thread())
        return real_read(run_dir)

    monkeypatch.setattr(compare, "read_run", read_run)
    for run in runs:
        view.toggle(run.name)  # what the row's <Control-Button-1> binding calls
    assert all(view.ticks[run.name].get() == 1 for run in runs)
    view.toggle(runs[1].name)
    assert view.ticks[runs[1].name].get() == 0 and view.compare_hint.cget("text") == "2 runs ticked"
    view.compare()
    pump_until(tk_root, subscription, view, lambda: dialog_open(view))
    assert len(readers) == 2 and threading.main_thread() not in readers
    order = [summary.run_id for summary in view.summaries]
    assert [facts.run_id for facts in view.compare_dialog.found] == sorted([runs[0].name, runs[2].name],
                                                                             key=order.index)
    view.refresh()  # the list is rebuilt (a job ended): the ticks stay
    assert view.ticked == [runs[0].name, runs[2].name] and view.ticks[runs[2].name].get() == 1


def test_screenshot_of_two_runs_side_by_side(gui_display, three_runs, tmp_path):
    from gui.preferences import Preferences, save_preferences
    from tests.test_gui_app import open_app, pump_until as app_until, screenshot, settle
    workspace, runs = three_runs
    save_preferences(workspace.root, Preferences(theme="light", wizard_done=True))
    app = open_app(workspace, monitor=False)
    target = SCREENSHOTS if os.environ.get("DPS_UPDATE_SCREENSHOTS") else tmp_path
    try:
        app.nav_buttons["models"].invoke()
        view = app.views["models"]
        view.ticks[runs[0].name].toggle()
        view.ticks[runs[1].name].toggle()
        view.compare_button.invoke()
        assert app_until(app, lambda: dialog_open(view), 20), app.banner.text()
        settle(app, 1.5)
        image = screenshot(view.compare_dialog, gui_display, target / "models-compare.png")
        assert len(image.getcolors(1 << 16) or range(1 << 16)) > 8 and not view.banner.visible
    finally:
        app.quit_app()
        app_until(app, lambda: app.closed, 30)
