"""The Playground's Compare with: two columns, A (the chosen model) and B, each filled by its own ChatReplied events
while the window keeps running; and the same on the real panel with real chat workers (the screenshot
docs/screenshots/playground-compare.png with DPS_UPDATE_SCREENSHOTS=1)."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
from pathlib import Path

import pytest

from core.jobs.events import JobFailed, JobStarted
from core.prompting.playground import ChatReplied
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.test_chat import SMOL
from tests.test_gui_app import SCREENSHOTS, crash_reports, open_app, pump_until, screenshot, seed_sample, settle

MODELS = [("run-2/model.gguf", Path("/m/run-2.gguf")), ("run-1/model.gguf", Path("/m/run-1.gguf"))]


def compare_actions():
    return FakeActions(returns={"persona_choices": [(5, "Ann")], "start_chat": "chat-1", "playground_models": MODELS})


def test_compare_fills_two_columns_with_each_models_reply(tk_root):
    from gui.views.playground import PlaygroundView
    actions = compare_actions()
    view, bus, subscription = build(tk_root, PlaygroundView, actions)
    assert view.compare_menu.cget("values") == ["none", "base model", "run-2/model.gguf", "run-1/model.gguf"]
    assert not view.columns["b"].winfo_ismapped()  # one column until a comparison is loaded
    view.compare_menu.set("base model")
    view.load_button.invoke()
    assert actions.called("start_chat") == [((5, Path("/m/run-2.gguf")), {"compare": "base"})]
    tk_root.update()
    assert view.columns["a"].winfo_ismapped() and view.columns["b"].winfo_ismapped()
    assert view.columns["a"].winfo_width() == pytest.approx(view.columns["b"].winfo_width(), abs=2)
    bus.publish(JobStarted(job_id="chat-1", name="chat", device="gpu", details={
        "compare": "/ws/third_party/models/SmolLM2-135M-Instruct.Q4_1.gguf", "compare_device": "cpu"}))
    pump(tk_root, subscription, [view])
    assert view.columns["a"].header.cget("text") == "A: run-2/model.gguf (gpu)"
    assert view.columns["b"].header.cget("text") == "B: base, SmolLM2-135M-Instruct.Q4_1.gguf (cpu)"
    view.entry.insert(0, "anyone up for game night?")
    view.send_button.invoke()
    assert actions.called("send_chat") == [(("chat-1", "anyone up for game night?"), {})]  # one line, both models
    assert "You: anyone up for game night?" in view.transcript_text("a")
    assert "You: anyone up for game night?" in view.transcript_text("b")
    bus.publish(ChatReplied(job_id="chat-1", side="a", text="count me in", parts=["count me in"],
                            details={"seconds": 0.8, "prompt": "p1"}))
    pump(tk_root, subscription, [view])
    assert "Ann: count me in" in view.transcript_text("a") and "count me in" not in view.transcript_text("b")
    assert view.send_button.cget("state") == "disabled"  # B has not answered yet
    assert view.status.cget("text") == "Ann is typing… (B)"
    bus.publish(ChatReplied(job_id="other", side="b", text="not ours", parts=["not ours"]))
    bus.publish(ChatReplied(job_id="chat-1", side="b", dropped_reason="empty", details={"seconds": 1.2,
                                                                                         "prompt": "p1"}))
    pump(tk_root, subscription, [view])
    assert "Ann: (sends nothing: empty)" in view.transcript_text("b") and "not ours" not in view.transcript_text("b")
    assert view.send_button.cget("state") == "normal"
    assert view.status.cget("text") == "A replied in 0.8s, B sent nothing in 1.2s (same prompt)"
    bus.publish(JobFailed(job_id="chat-1", message="model B did not load: no chat template"))
    pump(tk_root, subscription, [view])
    assert "model B did not load" in view.banner.text() and view.send_button.cget("state") == "disabled"


def test_compare_back_to_none_is_one_column_again_and_a_refused_compare_is_a_banner(tk_root):
    from gui.actions import ActionError
    from gui.views.playground import PlaygroundView
    actions = compare_actions()
    view, _bus, _subscription = build(tk_root, PlaygroundView, actions)
    view.compare_menu.set("run-1/model.gguf")
    view.load_button.invoke()
    assert actions.called("start_chat")[-1] == ((5, Path("/m/run-2.gguf")), {"compare": Path("/m/run-1.gguf")})
    assert view.columns["b"].header.cget("text") == "B: run-1/model.gguf"
    view.unload_button.invoke()
    view.compare_menu.set("none")
    view.load_button.invoke()
    tk_root.update()
    assert actions.called("start_chat")[-1] == ((5, Path("/m/run-2.gguf")), {})
    assert not view.columns["b"].winfo_ismapped() and view.columns["a"].header.cget("text") == ""
    actions.raises["start_chat"] = ActionError("no model to compare with: run-2/model.gguf cannot be compared "
                                               "with itself: pick another model", "pick another in Compare with")
    view.unload_button.invoke()
    view.compare_menu.set("run-2/model.gguf")
    view.load_button.invoke()
    assert "compared with itself" in view.banner.text() and view.job_id is None


def requantized(source: Path, target: Path) -> Path:
    """``source`` quantized again to Q4_0: the same weights a little apart, standing in for a run's export so the
    two columns differ (a real export costs a training run)."""
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, True, 2
    assert llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) == 0
    return target


@pytest.mark.slow
def test_the_panel_compares_a_run_with_its_base_through_real_chat_workers(gui_display, workspace, tmp_path):
    if not SMOL.exists():
        pytest.skip("SmolLM2 GGUF not installed")
    seed_sample(workspace)
    run_dir = workspace.runs_dir / "20261207-120000-train-c0de"
    (run_dir / "export").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"kind": "train", "base_model": {
        "source": str(SMOL), "kind": "gguf"}}), encoding="utf-8")
    requantized(SMOL, run_dir / "export" / "model-q4_0.gguf")
    app = open_app(workspace)
    try:
        app.nav_buttons["playground"].invoke()
        settle(app)
        view = app.views["playground"]
        view.persona_menu.set("Wren")
        view.model_menu.set("20261207-120000-train-c0de/model-q4_0.gguf")
        view.compare_menu.set("base model")
        view.load_button.invoke()
        assert pump_until(app, lambda: view.ready or view.job_id is None, 120), view.status.cget("text")
        assert view.ready, view.banner.text()
        for number, line in enumerate(("anyone around for a movie tonight?", "what should we watch?")):
            view.entry.insert(0, line)
            view.send_button.invoke()
            assert pump_until(app, lambda: not view.waiting, 180), view.status.cget("text")
            if number == 0:  # the first line's prompt is the same for both; later ones hold each side's replies
                assert view.status.cget("text").endswith("(same prompt)"), view.status.cget("text")
        for side in ("a", "b"):
            assert view.transcript_text(side).count("Wren: ") == 2, view.transcript_text(side)
        assert view.columns["b"].header.cget("text").startswith(f"B: base, {SMOL.name} (")
        settle(app)
        target = SCREENSHOTS if os.environ.get("DPS_UPDATE_SCREENSHOTS") else tmp_path
        screenshot(app, gui_display, target / "playground-compare.png")
        assert not crash_reports(workspace) and not app.banner.visible
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
    shutil.rmtree(run_dir, ignore_errors=True)
