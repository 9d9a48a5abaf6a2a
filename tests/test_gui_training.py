"""The Training page against a real worker subprocess (tests/fake_worker.py, which speaks the real wire protocol)
through the real JobRunner and Actions: log lines appear, the loss chart follows, Stop stops the worker; a page built
afterwards replays the run from metrics.jsonl and Resume continues it; a failure shows its message and advice; the
memory estimate arrives from a thread."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.runner import JobRunner
from core.jobs.runs import create_run
from core.jobs.specs import JobSpec
from gui.actions import Actions
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)

FAKE_WORKER = Path(__file__).resolve().parent / "fake_worker.py"
TINY_MODEL = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 1000,
              "num_attention_heads": 4, "num_key_value_heads": 2}


@pytest.fixture
def panel(tmp_path):
    """Real Actions on a fresh workspace whose start verb launches the fake worker in a new run folder."""
    workspace = Workspace.open(tmp_path / "ws")
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(workspace, bus, JobRunner(bus))
    launched = []

    def launch(run_dir: Path, *extra: str) -> str:
        argv = (sys.executable, str(FAKE_WORKER), "--run-dir", str(run_dir), *extra)
        launched.append(argv)
        return actions.start_job(JobSpec(name="train", argv=argv, run_dir=run_dir, stop_grace=10.0))

    def start_training(base, preset, flags):
        run_dir = create_run(workspace.runs_dir, {"kind": "train", "base_model": {"source": base, "kind": "gguf"}})
        return launch(run_dir, "--steps", str(flags.get("max_steps", 400)), "--step-seconds", "0.03"), run_dir

    actions.start_training = start_training
    actions.estimate_memory = lambda base, preset, flags: {"total_gb": 1.5, "parts": {}, "device": "cpu",
                                                           "available_gb": 16.0, "warning": None}
    actions.launched = launched
    yield actions, bus, subscription
    actions.runner.shutdown(timeout=5).join(10)


def pump_until(root, subscription, view, condition, seconds: float = 60.0) -> None:
    """Pump until ``condition``; generous, for a loaded CI machine (the worker is a fresh Python process)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not get there in time: status {view.status!r}, banner "
                                 f"{view.banner.text()!r}, log tail {view.log.get_text()[-300:]!r}")
        pump(root, subscription, [view], rounds=1)
        view.log.flush()
        time.sleep(0.02)


def build(root, actions, bus):
    from gui.views.training import TrainingView
    view = TrainingView(root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    root.update()
    return view


@pytest.mark.slow
def test_training_page_follows_a_real_worker_and_stop_stops_it(tk_root, panel):
    actions, bus, subscription = panel
    view = build(tk_root, actions, bus)
    assert view.status == "" and view.resume_button.cget("state") == "disabled"  # no run yet: nothing to replay
    view.entries["max_steps"].insert(0, "400")
    view.start_button.invoke()
    pump_until(tk_root, subscription, view, lambda: "step 3 done" in view.log.get_text())
    assert "--steps" in actions.launched[0] and "400" in actions.launched[0]  # the form's value reached the run
    pump_until(tk_root, subscription, view, lambda: len(view.curves.get("loss", {})) >= 4)
    steps, losses = view.chart.series("loss")
    assert steps[:3] == [1, 2, 3] and losses[:3] == [3.0, 1.5, 1.0]  # the fake worker's loss is 3 / step
    assert view.start_button.cget("state") == "disabled" and view.stop_button.cget("state") == "normal"
    assert "/400" in view.progress.text()
    view.stop_button.invoke()
    pump_until(tk_root, subscription, view, lambda: view.status == "stopped")
    job = actions.runner.jobs()[0]
    assert not job.running and job.process.returncode == 0  # stopped cooperatively, not killed
    assert view.start_button.cget("state") == "normal" and view.stop_button.cget("state") == "disabled"
    last_step = max(view.curves["loss"])
    assert last_step < 400


@pytest.mark.slow
def test_a_reopened_page_replays_a_stopped_run_and_resume_continues_it(tk_root, panel):
    actions, bus, subscription = panel
    first = build(tk_root, actions, bus)
    first.start_button.invoke()
    pump_until(tk_root, subscription, first, lambda: len(first.curves.get("loss", {})) >= 3)
    first.stop_button.invoke()
    pump_until(tk_root, subscription, first, lambda: first.status == "stopped")
    run_dir, recorded = first.run_dir, first.chart.series("loss")
    first.destroy()
    step = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))["step"]
    assert step == recorded[0][-1]  # the recorder's state.json and the live curve agree
    checkpoint = run_dir / "checkpoints" / f"checkpoint-{step}"  # what a real trainer leaves on a stop
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}", encoding="utf-8")
    reopened = build(tk_root, actions, bus)  # as after a restart: nothing running, the run is on disk
    assert reopened.run_dir == run_dir and reopened.status == "stopped"
    assert reopened.chart.series("loss") == recorded  # replayed from metrics.jsonl
    assert f"step {step} done" in reopened.log.get_text() + "\n".join(reopened.log._pending)
    assert reopened.resume_button.cget("state") == "normal" and reopened.stop_button.cget("state") == "disabled"
    actions.resume_training = lambda folder: actions.start_job(JobSpec(name="train", run_dir=folder, argv=(
        sys.executable, str(FAKE_WORKER), "--run-dir", str(folder), "--start-step", str(step), "--steps",
        str(step + 5), "--step-seconds", "0.01")))
    reopened.resume_button.invoke()
    pump_until(tk_root, subscription, reopened, lambda: reopened.status == "finished")
    steps, losses = reopened.chart.series("loss")
    assert steps == list(range(1, step + 6)) and losses[-1] == round(3.0 / (step + 5), 4)  # one continued curve
    assert reopened.resume_button.cget("state") == "disabled"  # a finished run is not resumed


@pytest.mark.slow
def test_a_failed_run_shows_its_message_advice_and_last_lines(tk_root, panel, tmp_path):
    actions, bus, subscription = panel
    run_dir = create_run(actions.workspace.runs_dir, {"kind": "train"})
    actions.start_training = lambda base, preset, flags: (actions.start_job(JobSpec(
        name="train", argv=(sys.executable, str(FAKE_WORKER), "--steps", "9", "--oom-at", "3",
                            "--step-seconds", "0.01", "--run-dir", str(run_dir)), run_dir=run_dir)), run_dir)
    view = build(tk_root, actions, bus)
    view.start_button.invoke()
    pump_until(tk_root, subscription, view, lambda: view.status == "failed")
    text = view.failure.cget("text")
    assert "out of memory at step 3" in text and "lower per_device_batch_size" in text
    assert "CUDA out of memory" in text  # the worker's last lines
    reopened = build(tk_root, actions, bus)  # and after a restart, from state.json and run.log
    assert reopened.status == "failed" and "out of memory at step 3" in reopened.failure.cget("text")


def test_the_memory_estimate_is_computed_off_the_tk_thread(tk_root, tmp_path):
    from gui.views.training import VRAM_TASK
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(TINY_MODEL), encoding="utf-8")
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(Workspace.open(tmp_path / "ws"), bus)
    result = actions.estimate_memory(str(model), "cpu-tiny", {"max_length": 256})
    assert result["total_gb"] > 0 and result["device"] in ("cpu", "cuda")
    view = build(tk_root, actions, bus)
    view.base.delete(0, "end")
    view.base.insert(0, str(model))
    view.estimate()
    pump_until(tk_root, subscription, view, lambda: view.estimate_label.cget("text").startswith("memory: about"),
               seconds=30)
    view.entries["lora_r"].insert(0, "sixteen")
    view.estimate()
    assert view.estimate_label.cget("text") == "LoRA rank must be a whole number, not 'sixteen'"
    view.base.delete(0, "end")
    view.base.insert(0, "not a model at all")
    view.entries["lora_r"].delete(0, "end")
    view.estimate()
    pump_until(tk_root, subscription, view, lambda: "neither a file" in view.estimate_label.cget("text"),
               seconds=30)
    assert VRAM_TASK == "vram-estimate"
