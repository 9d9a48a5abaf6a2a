"""The newcomer's path, driven from the window: the wizard's "Try the sample server" imports and prepares the sample
server in real worker processes (its own workspace), then the Playground answers a line with the real small model
through the chat worker (the bot's reply pipeline). Quitting leaves no process behind."""
from __future__ import annotations

import pytest

from tests.conftest_gui import gui_display  # noqa: F401 (fixture)
from tests.test_gui_app import crash_reports, open_app, pump_until


@pytest.mark.slow
def test_sample_server_then_a_playground_reply_from_the_real_small_model(gui_display, workspace):
    import psutil
    from core.jobs.events import JobFinished
    from gui.actions_panel import SMALL_MODEL
    if not SMALL_MODEL.is_file():
        pytest.skip(f"the small model is not installed at {SMALL_MODEL} (python install.py)")
    import time
    started = time.monotonic()
    app = open_app(workspace, wizard=True)
    try:
        wizard = app.views["wizard"]
        wizard.sample_button.invoke()
        assert app.actions.workspace.root == workspace.root / "sample"  # its own workspace, not the user's
        assert pump_until(app, lambda: app.current == "playground", 300), app.banner.text() or wizard.banner.text()
        assert not wizard.banner.visible, wizard.banner.text()
        assert app.actions.preferences.wizard_done
        from core.dataset.writer import latest_dataset
        prepared = latest_dataset(workspace.root / "sample" / "datasets")
        assert prepared is not None and (prepared / "train.jsonl").is_file()  # the Dataset page finds it
        print(f"sample server imported and prepared in {time.monotonic() - started:.1f}s")
        playground = app.views["playground"]
        assert playground.personas, "the sample server's personas are listed"
        playground.model_menu.set(next(label for label, path in playground.models if path == SMALL_MODEL))
        playground.load_button.invoke()
        assert pump_until(app, lambda: playground.ready or not playground.job_id, 300), playground.banner.text()
        assert playground.ready, playground.banner.text()
        job = app.actions.runner.get(playground.job_id)
        playground.entry.insert(0, "anyone up for game night on friday?")
        playground.send_button.invoke()
        assert pump_until(app, lambda: not playground.waiting, 400)
        print(f"model loaded and replied at {time.monotonic() - started:.1f}s")
        transcript = playground.transcript_text()
        assert "You: anyone up for game night on friday?" in transcript
        assert f"\n\n{playground.persona_name}: " in transcript, transcript
        assert not crash_reports(app.actions.workspace)
        pid = job.process.pid
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 60)
    assert not job.running and isinstance(job.ending_event, JobFinished)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
