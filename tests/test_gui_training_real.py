"""The Training page with real training: a CPU run started from the panel on the shipped sample server (real
Actions, the real train worker, SmolLM2-135M), whose log box and run.log tell every phase in order, in the same
words; and the committed screenshots of the page during SFT and during DPO, drawn from the events of a longer real
run (tests/fixtures/training_run/, recorded by the train command) delivered through the bus as the worker sent them.

DPS_UPDATE_SCREENSHOTS=1 writes docs/screenshots/training-sft.png and training-dpo.png."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.jobs.events import JobStarted, PhaseStarted, ProgressReported, from_dict
from tests.conftest_gui import gui_display  # noqa: F401 (fixture)
from tests.log_order import assert_in_order
from tests.test_gui_app import SCREENSHOTS, crash_reports, open_app, pump_until, screenshot, seed_sample, settle

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "training_run"
SETTINGS = ("[training]\neval_steps = 2\nsave_steps = 1\nsave_total_limit = 1\nmax_eval_examples = 4\n"
            "dpo_max_steps = 2\n")  # every kind of line in three steps: evaluations, checkpoints pruned, DPO
PANEL_RUN = [
    r"^\[runner\] \S+ launched pid \d+$",
    r"^base model: SmolLM2-135M-Instruct\.\S+\.gguf \(GGUF file, dequantized for training, \d+ MB\) from /",
    r"^backend: PEFT \+ TRL LoRA on the CPU \(no CUDA GPU: Unsloth needs one\); .* compute, fp32 weights$",
    r"^loaded in \S+( \S+)?: 1\d\d\.\dM parameters, 30 layers$",
    r"^LoRA r 8, alpha 16 on 7 projections of the top 8 of 30 layers: [\d.]+K trainable parameters",
    r"^reading the dataset in \S+…$",
    r"^dataset \S+: [\d,]+ train examples .*, 4 validation examples",
    r"^tokens: [\d,]+ in the train split, [\d,]+ of them targets; packed into [\d,]+ rows of up to 256 tokens "
    r"\([\d.]+ examples per row\)$",
    r"^plan: 3 SFT steps = [\d.]+ epochs at effective batch 2 \(2 per device × 1 accumulation\), lr 1\.00e-03 cosine$",
    r"^evaluation every 2 steps and at the end on 4 examples; checkpoints every step, newest 1 kept; then DPO, 2 steps$",
    r"^SFT: steps 1-3$",
    r"^SFT 1/3 · epoch [\d.]+ · loss [\d.]+ · lr 1\.00e-03 · grad [\d.]+ · [\d,]+ tok/s · RAM [\d.]+ GiB · ",
    r"^checkpoint saved at step 1: checkpoints/checkpoint-1$",
    r"^SFT 2/3 · ",
    r"^evaluating at step 2 on 4 validation examples…$",
    r"^eval at step 2: loss [\d.]+ \(best so far\) · token accuracy [\d.]+% · 4 examples in ",
    r"^checkpoint saved at step 2: checkpoints/checkpoint-2 \(deleted checkpoint-1 to keep the newest\)$",
    r"^SFT 3/3 · ",
    r"^eval at step 3: loss [\d.]+ ",
    r"^checkpoint saved at step 3: checkpoints/checkpoint-3 \(deleted checkpoint-2 to keep the newest\)$",
    r"^SFT done in \S+( \S+)?: step 3, loss [\d.]+ → [\d.]+$",
    r"^adapter saved after SFT: \S+/adapter \([\d.]+ MB\)$",
    r"^DPO: 2 steps on \d+ preference pairs \(beta 0\.1, lr 5\.00e-06\), from the SFT adapter$",
    r"^DPO 1/2 · epoch [\d.]+ · loss [\d.]+ · margin [+-][\d.]+ · acc \d+% · lr ",
    r"^DPO 2/2 · ",
    r"^DPO done in \S+( \S+)?: 2 steps, loss [\d.]+ → [\d.]+, reward margin [+-][\d.]+$",
    r"^adapter saved after DPO: \S+/adapter",
    r"^finished in \S+( \S+)?: 3 SFT steps, [\d,]+ tokens trained, loss [\d.]+ → [\d.]+, best eval loss [\d.]+ at step "
    r"[23]; DPO 2 steps, loss [\d.]+ → [\d.]+; adapter: \S+/adapter$",
    r"^\[runner\] \S+ finished$",
]


@pytest.mark.slow
def test_a_real_cpu_run_from_the_panel_shows_every_phase_in_order_in_the_log_box_and_run_log(gui_display, workspace,
                                                                                              tmp_path):
    from core.config.resources import ResourceMissing, default_base_model
    try:
        default_base_model()
    except ResourceMissing as exc:
        pytest.skip(str(exc))
    seed_sample(workspace)
    workspace.config_path.write_text(SETTINGS, encoding="utf-8")
    app = open_app(workspace)
    try:
        app.nav_buttons["training"].invoke()
        settle(app, 1.0)
        view = app.views["training"]
        view.preset.set("cpu-tiny")
        view.entries["max_steps"].insert(0, "3")
        view.start_button.invoke()
        assert pump_until(app, lambda: len(view.curves.get("loss", {})) >= 2, 1500), view.log.get_text()[-2000:]
        assert view.progress.text().startswith(("SFT 2/3 · 67% · ETA", "evaluating on 4 validation examples"))
        view.chart.draw_now()
        settle(app, 0.5)
        screenshot(app, gui_display, tmp_path / "training-sft-live.png")
        assert pump_until(app, lambda: view.chart.lines.get("DPO loss") is not None, 1500), view.log.get_text()[-2000:]
        assert view.progress.text().startswith("DPO 1/2 · 50% · ETA")
        view.chart.draw_now()
        settle(app, 0.5)
        screenshot(app, gui_display, tmp_path / "training-dpo-live.png")
        assert pump_until(app, lambda: view.status == "finished" and view.log.get_text().endswith(" finished"), 900)
        shown = view.log.get_text().splitlines()
        logged = (view.run_dir / "run.log").read_text(encoding="utf-8").splitlines()
        assert shown == logged  # the log box is run.log, line for line
        assert_in_order(logged, PANEL_RUN)
        assert sum(line.startswith("evaluating at step 3") for line in logged) == 1  # the last eval is not redone
        assert view.chart.series("loss")[0] == [1, 2, 3] and view.chart.series("DPO loss")[0] == [1, 2]
        assert not crash_reports(workspace)
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 60)


def recorded_events() -> list:
    lines = (FIXTURE / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [from_dict(json.loads(line)) for line in lines]


def deliver_until(app, view, events: list, stop) -> list:
    """Publish the recorded events as the runner did until ``stop(event)``; the rest is returned."""
    from dataclasses import replace
    while events:
        event = events.pop(0)
        app.bus.publish(replace(event, job_id=view.job_id))
        if stop(event):
            break
    assert pump_until(app, lambda: not app.subscription.pending(), 30)
    view.log.flush()
    view.chart.draw_now()  # the charts' throttle may hold the last points back for a while
    settle(app, 0.5)
    return events


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_screenshots_of_the_training_page_during_sft_and_during_dpo(gui_display, workspace, tmp_path, mode):
    import customtkinter as ctk
    from gui.preferences import Preferences, save_preferences
    save_preferences(workspace.root, Preferences(theme=mode, wizard_done=True))  # the app applies the saved theme
    app = open_app(workspace, monitor=False)
    try:
        app.nav_buttons["training"].invoke()
        settle(app, 1.0)
        view = app.views["training"]
        view.run_dir = workspace.runs_dir / "20261208-101500-train-5e1f"
        view.follow("recorded-run", "running")
        target = SCREENSHOTS if os.environ.get("DPS_UPDATE_SCREENSHOTS") and mode == "light" else tmp_path
        events = recorded_events()
        sft = next(event.total_steps for event in events if isinstance(event, JobStarted))
        dpo = next(event.total for event in events if isinstance(event, PhaseStarted) and event.phase == "dpo")
        pause = sft * 7 // 10  # past the first evaluation, before the end
        rest = deliver_until(app, view, events, lambda event: isinstance(event, ProgressReported)
                             and event.stage == "sft" and event.step == pause)
        assert view.progress.text().startswith(f"SFT {pause}/{sft} · {pause / sft:.0%} · ETA ")
        assert "(run " in view.progress.text() and "RAM" in view.progress.text()
        assert "eval loss" in view.chart.lines and view.chart.note_text("dpo") == "the DPO pass runs after SFT"
        image = screenshot(app, gui_display, target / "training-sft.png")
        assert len(image.getcolors(1 << 16) or range(1 << 16)) > 8
        deliver_until(app, view, rest, lambda event: isinstance(event, ProgressReported) and event.stage == "dpo"
                      and event.step == dpo - 1)
        assert view.progress.text().startswith(f"DPO {dpo - 1}/{dpo} · ")
        assert view.chart.series("DPO loss")[0] == list(range(1, dpo)) and view.chart.series("loss")[0][-1] == sft
        screenshot(app, gui_display, target / "training-dpo.png")
        assert not crash_reports(workspace)
    finally:
        ctk.set_appearance_mode("light")
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
