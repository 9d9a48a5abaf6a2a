"""The Training page against a real worker subprocess (tests/fake_worker.py, which speaks the real wire protocol)
through the real JobRunner and Actions: log lines appear, the loss chart follows, Stop stops the worker; a page built
afterwards replays the run from metrics.jsonl and Resume continues it; a failure shows its message and advice; the
memory estimate arrives from a thread. The log box holds run.log's words line for line, the status names the phase
with its ETA and the run's, and the charts keep the eval loss, the DPO pass and speed/memory apart (runs recorded
before the phase events included). A real training run from the panel is in test_gui_training_real.py."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.events import EvalReported, JobStarted, PhaseStarted, ProgressReported
from core.jobs.runner import JobRunner
from core.jobs.runs import create_run
from core.jobs.specs import JobSpec
from gui.actions import Actions
from tests.conftest_gui import FakeActions, gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.conftest_gui import build as build_page

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


@pytest.mark.slow
def test_the_log_box_is_run_log_and_the_status_names_the_phase_with_both_etas(tk_root, panel):
    actions, bus, subscription = panel

    def start_training(base, preset, flags):
        run_dir = create_run(actions.workspace.runs_dir, {"kind": "train"})
        return actions.start_job(JobSpec(name="train", run_dir=run_dir, argv=(
            sys.executable, str(FAKE_WORKER), "--phases", "--steps", "6", "--eval-every", "3", "--dpo-steps", "3",
            "--step-seconds", "0.4", "--run-dir", str(run_dir)))), run_dir

    actions.start_training = start_training
    view = build(tk_root, actions, bus)
    statuses = []
    for verb in ("update_from", "set_text"):  # every status the row shows, however the pump batches the events
        original = getattr(view.progress, verb)
        setattr(view.progress, verb, lambda *args, _original=original: (
            _original(*args), statuses.append(view.progress.text())))
    view.start_button.invoke()
    pump_until(tk_root, subscription, view,
               lambda: view.status == "finished" and view.log.get_text().endswith(" finished"))
    logged = (view.run_dir / "run.log").read_text(encoding="utf-8").splitlines()
    assert view.log.get_text().splitlines() == logged  # the same words, line for line
    assert any(line.startswith("plan: 6 SFT steps") for line in logged)
    assert any(re.match(r"SFT [4-6]/6 · \d+% · ETA \S+( \S+)? \(run \S+( \S+)?\)", text)
               for text in statuses), statuses
    assert any(re.match(r"DPO [1-3]/3 · \d+% · ETA ", text) for text in statuses), statuses
    assert "evaluating on 4 validation examples…" in statuses and "DPO starting: 3 steps on 11 pairs…" in statuses
    assert view.chart.series("DPO loss")[0] == [1, 2, 3] and view.chart.series("loss")[0] == [1, 2, 3, 4, 5, 6]
    assert view.chart.series("eval loss")[0] == [3, 6]


def feed(view, *events) -> None:
    for event in events:
        view.show_event(event)
    view.update()


def step(number: int, total: int, stage: str, **fields):
    return ProgressReported(step=number, total=total, loss=round(3.0 / number, 4), phase=stage, message=stage,
                            time=1000.0 + 30 * number + (600 if stage == "dpo" else 0), elapsed=30.0 * number,
                            **fields)


def test_the_charts_show_eval_loss_only_once_there_is_one_and_dpo_on_its_own_axes(tk_root):
    from gui.views.training import TrainingView
    actions = FakeActions(returns={"presets": ["cpu-tiny"], "default_base_model": ""})
    view, _bus, _sub = build_page(tk_root, TrainingView, actions)
    feed(view, JobStarted(name="train", total_steps=4, details={"dpo_steps": 2, "effective_batch": 2}),
         step(1, 4, "sft", tokens_per_second=120.0, rss=1.5), step(2, 4, "sft", tokens_per_second=130.0, rss=1.6))
    loss_axes, dpo_axes = view.chart.panels["loss"], view.chart.panels["dpo"]
    assert "eval loss" not in view.chart.lines and loss_axes.get_legend() is None  # no promise of a line
    assert view.chart.note_text("dpo") == "the DPO pass runs after SFT"
    feed(view, PhaseStarted(phase="eval", details={"examples": 4, "step": 2}))
    assert view.progress.text() == "evaluating on 4 validation examples…"
    feed(view, EvalReported(step=2, eval_loss=2.0, best_loss=2.0))
    eval_line = view.chart.lines["eval loss"]
    assert eval_line.axes is loss_axes and eval_line.get_marker() == "o"  # one evaluation is a visible point
    assert [text.get_text() for text in loss_axes.get_legend().get_texts()] == ["loss", "eval loss"]
    feed(view, PhaseStarted(phase="dpo", total=2, details={"pairs": 11}))
    assert view.progress.text() == "DPO starting: 2 steps on 11 pairs…"
    feed(view, step(1, 2, "dpo", reward_margin=0.01, eta=None))
    assert view.chart.lines["DPO loss"].get_marker() == "o"  # one point: a dot, or the panel would look empty
    feed(view, step(2, 2, "dpo", reward_margin=0.03, eta=30.0))
    assert view.chart.lines["DPO loss"].get_marker() == "None"
    assert [handle.get_marker() for handle in dpo_axes.get_legend().legend_handles] == ["None", "None"]
    assert view.chart.lines["DPO loss"].axes is dpo_axes and view.chart.series("DPO loss")[0] == [1, 2]
    assert view.chart.lines["reward margin"].axes is view.chart.twins["dpo"]  # its own scale, on the right
    assert view.chart.series("loss")[0] == [1, 2]  # the DPO steps never land on the SFT step axis
    assert view.progress.text().startswith("DPO 2/2 · 100% · ETA 30s")
    speed_x, speed_y = view.chart.series("tokens/s")
    assert speed_y == [120.0, 130.0] and speed_x == [0.5, 1.0]  # minutes since the run started
    assert view.chart.lines["RAM GiB"].axes is view.chart.twins["speed"]
    assert view.chart.series("RAM GiB")[1] == [1.5, 1.6]


def test_a_run_recorded_before_phases_replays_with_dpo_on_its_own_panel(tk_root, tmp_path):
    from gui.views.training import TrainingView
    from tests.test_log_lines import LEGACY_METRICS
    workspace = Workspace.open(tmp_path / "ws")
    run_dir = create_run(workspace.runs_dir, {"kind": "train"})
    (run_dir / "metrics.jsonl").write_text("\n".join(LEGACY_METRICS) + "\n", encoding="utf-8")
    (run_dir / "run.log").write_text("Converting and de-quantizing GGUF tensors...: 100%\n", encoding="utf-8")
    bus = EventBus()
    view = build(tk_root, Actions(workspace, bus), bus)
    assert view.run_dir == run_dir
    assert view.chart.series("loss") == ([1], [4.684458]) and view.chart.series("DPO loss") == ([1], [0.693147])
    assert view.chart.series("eval loss") == ([6], [3.9403])
    assert view.chart.lines["DPO loss"].axes is view.chart.panels["dpo"]
