"""What a user sees at rest: disabled buttons look disabled (Cancel until its job runs), idle bars are grey tracks,
the Training page without a run shows a labelled empty chart and a visible log, charts follow light/dark, and the
memory estimate reads a GGUF's header only (a real subprocess measures it on the bundled model)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import customtkinter as ctk
import pytest

from core.jobs.events import JobStateChanged, ProgressReported
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
SMALL_GGUF = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def ended(job_id: str, name: str) -> JobStateChanged:
    return JobStateChanged(job_id=job_id, name=name, state="finished", previous="running")


def test_cancel_buttons_are_disabled_and_look_it_unless_their_job_runs(tk_root):
    from gui.views.data import DataView
    from gui.views.models import ModelsView
    from gui.widgets.button import DISABLED_FG
    actions = FakeActions(returns={"channel_choices": [], "start_import": "import-1", "run_summaries": []})
    data, bus, subscription = build(tk_root, DataView, actions)
    models, _bus, _sub = build(tk_root, ModelsView, actions)
    rows = [data.import_row, data.fetch_row, models.job_row]
    for row in rows:
        assert row.cancel_button.cget("state") == "disabled" and row.cancel_button.looks_disabled
    data.import_paths(["/exports/general.json"])
    button = data.import_row.cancel_button
    assert button.cget("state") == "normal" and button.cget("fg_color") != DISABLED_FG
    assert data.fetch_row.cancel_button.looks_disabled  # the other job's Cancel stays off
    bus.publish(ended("import-1", "import"))
    pump(tk_root, subscription, [data])
    assert button.cget("state") == "disabled" and button.looks_disabled
    models.job_row.track("export-1")
    assert not models.job_row.cancel_button.looks_disabled
    models.job_row.handle(ended("export-1", "export"))
    assert models.job_row.cancel_button.looks_disabled


def test_the_dataset_pages_prepare_cancel_follows_its_job(tk_root):
    from gui.views.dataset import DatasetView
    actions = FakeActions(returns={"personas": [], "start_prepare": "prepare-1", "curation_page": lambda *a, **k: [],
                                   "curation_counts": {"good": 0, "bad": 0, "better": 0}})
    view, bus, subscription = build(tk_root, DatasetView, actions)
    cancel = view.prepare_row.cancel_button
    assert cancel.looks_disabled
    view.prepare_button.invoke()
    assert actions.called("start_prepare") and not cancel.looks_disabled and cancel.cget("state") == "normal"
    bus.publish(ended("prepare-1", "prepare"))
    pump(tk_root, subscription, [view])
    assert cancel.looks_disabled


def test_an_idle_progress_bar_is_a_grey_track_until_there_is_progress(tk_root):
    from gui.widgets.progress import ProgressRow
    row = ProgressRow(tk_root)
    row.grid(row=0, column=0)
    blue = ctk.ThemeManager.theme["CTkProgressBar"]["progress_color"]
    assert row.idle and row.bar.cget("progress_color") == row.bar.cget("fg_color")  # no blue stub at 0
    row.update_from(ProgressReported(job_id="j", step=1, total=4))
    assert not row.idle and row.bar.cget("progress_color") == blue and row.bar.get() == pytest.approx(0.25)
    row.set_text("stopped", 0.0)
    assert row.idle and row.bar.cget("progress_color") == row.bar.cget("fg_color")


def test_the_training_page_without_a_run_shows_empty_axes_and_a_log_placeholder(tk_root):
    from gui.views.training import NO_RUN_LOG, TrainingView
    actions = FakeActions(returns={"presets": ["cpu-tiny"], "default_base_model": ""})
    view, _bus, _sub = build(tk_root, TrainingView, actions)
    axes = view.chart.axes
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == ("step", "loss", "Loss")
    assert view.chart.note_text() == "no run yet" and view.chart.winfo_ismapped()
    assert view.log.placeholder_shown() and view.log.text._textbox.get("1.0", "end-1c") == NO_RUN_LOG
    assert view.log.text.cget("border_width") >= 1 and view.log.winfo_ismapped()
    assert view.log.line_count() == 0 and view.log.get_text() == ""
    view.add_point("loss", 1, 2.5)
    view.log.append("step 1")
    view.log.flush()
    assert view.chart.note_text() is None and view.chart.series("loss") == ([1], [2.5])
    assert view.log.get_text() == "step 1" and not view.log.placeholder_shown()
    view.reset(None)
    assert view.log.placeholder_shown() and view.chart.note_text() == "no run yet"


def _luminance(colour) -> float:
    from matplotlib.colors import to_rgb
    red, green, blue = to_rgb(colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_charts_follow_the_appearance_mode_and_switch_with_it(tk_root):
    from gui.widgets.chart import Chart
    ctk.set_appearance_mode("dark")
    try:
        chart = Chart(tk_root, title="t", xlabel="step", ylabel="loss")
        chart.grid(row=0, column=0)
        chart.set_line("loss", [1, 2], [3.0, 2.0])
        tk_root.update()
        assert _luminance(chart.figure.get_facecolor()) < 0.3 and _luminance(chart.axes.get_facecolor()) < 0.3
        assert _luminance(chart.axes.xaxis.label.get_color()) > 0.7  # light text on the dark figure
        ctk.set_appearance_mode("light")
        tk_root.update()
        assert _luminance(chart.figure.get_facecolor()) > 0.7 and _luminance(chart.axes.title.get_color()) < 0.3
        chart.clear()
        assert _luminance(chart.axes.get_facecolor()) > 0.7  # clearing keeps the mode's colours
    finally:
        ctk.set_appearance_mode("light")


@pytest.mark.skipif(not SMALL_GGUF.exists(), reason="the bundled SmolLM2 GGUF is not installed yet")
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures the peak through Linux's /proc")
def test_the_memory_estimate_reads_the_gguf_header_only(tmp_path):
    from core.training.vram import shape_from_gguf
    from gui.gguf_header import GGUFHeaderError, shape_from_header, shape_of
    assert shape_from_header(SMALL_GGUF) == shape_from_gguf(SMALL_GGUF)  # the same shape as gguf's own reader
    # VmHWM: the peak of this process's own memory (ru_maxrss would carry pytest's over the fork)
    probe = ("import json, sys; from pathlib import Path; from gui.gguf_header import shape_from_header; "
             f"shape = shape_from_header({str(SMALL_GGUF)!r}); "
             "hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM')]; "
             "print(json.dumps({'gguf': 'gguf' in sys.modules, 'numpy': 'numpy' in sys.modules, "
             "'peak_mb': int(hwm[0].split()[1]) / 1024 if hwm else 0}))")
    found = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                      check=True, timeout=120).stdout)
    assert not found["gguf"] and not found["numpy"] and found["peak_mb"] < 60, found
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(SMALL_GGUF.read_bytes()[:5000])
    with pytest.raises(GGUFHeaderError, match="cut short"):
        shape_from_header(cut)
    (tmp_path / "text.gguf").write_text("hello")
    with pytest.raises(GGUFHeaderError, match="not a GGUF"):
        shape_from_header(tmp_path / "text.gguf")
    assert shape_of(str(cut), "gguf") is None  # the estimate says "no estimate" instead of failing
