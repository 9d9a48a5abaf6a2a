"""Starting a run from the Training page plans it with the real ``plan_new_run`` (the shipped SmolLM2 GGUF, the
prepared sample server): the model's header is read on a background thread, never on the Tk thread, and with the
panel's header-only reader (``gui.gguf_header``), never gguf.GGUFReader, which maps the file and kept ~180 MB in the
panel's process. The worker itself is not launched (``start_job`` is replaced): the planning is what is tested."""
from __future__ import annotations

import json
import threading
import time

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from gui.actions import Actions
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.run_folders import prepare_sample


def test_planning_a_run_reads_the_gguf_header_off_the_tk_thread_and_never_maps_it(tk_root, tmp_path, monkeypatch):
    from core.config.resources import ResourceMissing, default_base_model
    from core.training import vram
    from gui import gguf_header
    from gui.views.training import START_TASK, VRAM_TASK, TrainingView
    try:
        model = default_base_model()
    except ResourceMissing as exc:
        pytest.skip(f"the offline base model is not installed: {exc}")
    reads: list[str] = []
    real_read = gguf_header.read_header

    def read_header(path):
        reads.append(threading.current_thread().name)
        assert threading.current_thread() is not threading.main_thread(), "the Tk thread read the GGUF header"
        return real_read(path)

    def mapped(path):
        raise AssertionError(f"gguf.GGUFReader mapped {path} in the panel's process")

    monkeypatch.setattr(gguf_header, "read_header", read_header)
    monkeypatch.setattr(vram, "shape_from_gguf", mapped)
    workspace = Workspace.open(tmp_path / "ws")
    prepare_sample(workspace)
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(workspace, bus)
    launched = []
    actions.start_job = lambda spec: launched.append(spec) or "train-planned"
    view = TrainingView(tk_root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    assert view.base.get() == str(model) and model.suffix == ".gguf"
    view.estimate()
    view.preset.set("cpu-tiny")
    view.entries["max_steps"].insert(0, "5")
    view.start()
    deadline = time.monotonic() + 60
    while view.pending_start or not view.estimate_label.cget("text").startswith("memory: about"):
        assert time.monotonic() < deadline, (view.banner.text(), view.estimate_label.cget("text"))
        pump(tk_root, subscription, [view], rounds=1)
        time.sleep(0.02)
    assert not view.banner.visible, view.banner.text()
    assert view.job_id == "train-planned" and view.run_dir is not None
    (spec,) = launched
    assert spec.run_dir == view.run_dir and (view.run_dir / "config.json").is_file()
    snapshot = json.loads((view.run_dir / "config.json").read_text(encoding="utf-8"))
    assert snapshot["memory_estimate"]["total_gb"] > 0  # the header was read for the plan too
    assert reads and set(reads) <= {f"panel-{START_TASK}", f"panel-{VRAM_TASK}"}
