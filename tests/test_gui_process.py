"""The panel as a process: the GUI process never imports the ML stack; the launcher with no command opens the panel
(and says so in one line without a display); the Bot page drives the real supervisor, and quitting leaves no bot and
no job behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest_gui import gui_display  # noqa: F401 (fixture)
from tests.test_gui_app import FAKE_WORKER, ML_STACK, ROOT, pump_until, seed_sample


GUI_PROCESS = r"""
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from gui.actions import Actions
from gui.app import App
bus = EventBus()
app = App(Actions(Workspace.open(sys.argv[2]), bus), bus, tray=True, monitor=True, wizard=True)
for name in list(app.nav_buttons):
    app.nav_buttons[name].invoke()
    for _ in range(10):
        app.update(); time.sleep(0.02)
app.quit_app()
for _ in range(50):
    try:
        app.update()
    except Exception:
        break
    time.sleep(0.02)
print(json.dumps({"pages": list(app.nav_buttons), "modules": sorted(sys.modules)}))
"""


@pytest.mark.slow
def test_the_gui_process_never_imports_the_ml_stack(gui_display, workspace):
    seed_sample(workspace)
    result = subprocess.run([sys.executable, "-c", GUI_PROCESS, str(ROOT), str(workspace.root)],
                            capture_output=True, text=True, timeout=240, env={**os.environ, "DISPLAY": gui_display})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"dashboard", "bot", "playground", "settings"} <= set(report["pages"])
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "customtkinter" in loaded and "gui" in loaded  # it really ran the panel
    assert not loaded & set(ML_STACK), sorted(loaded & set(ML_STACK))
    assert not any(name == "model" or name.startswith("model.") for name in report["modules"])


@pytest.mark.slow
def test_launcher_without_a_command_opens_the_panel_on_the_given_workspace(gui_display, tmp_path):
    import shutil
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool to find the window")
    root = tmp_path / "chosen"
    env = {**os.environ, "DISPLAY": gui_display}
    process = subprocess.Popen([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(root), "--no-tray"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Discord Persona Studio"],
                               env=env, capture_output=True, text=True, timeout=60)
        assert found.returncode == 0 and found.stdout.strip(), found.stderr
        assert (root / "logs").is_dir() and (root / "runs").is_dir()  # --workspace was honoured
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)


def test_launcher_without_a_display_says_so_in_one_line(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    result = subprocess.run([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(tmp_path / "w")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the control panel cannot open a window")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_bot_page_runs_the_supervised_bot_and_quitting_leaves_no_process(gui_display, workspace, tmp_path):
    import psutil
    from bot_controller.controller import BotController
    from core.config.supervisor import SupervisorConfig
    from core.jobs.bus import EventBus
    from core.jobs.specs import JobSpec
    from gui.actions import Actions
    from gui.app import App
    from tests.test_controller_process import FAKE_BOT, FAST, TOKEN
    pids = tmp_path / "pids.txt"

    def fake_bot_controller(ws, bus):  # the real supervisor over tests/fake_bot.py (no Discord)
        return BotController(ws, bus, config=SupervisorConfig(**FAST),
                             argv=[sys.executable, str(FAKE_BOT), "--pids", str(pids)])

    bus = EventBus()
    actions = Actions(workspace, bus, controller_factory=fake_bot_controller)
    actions.save_token(TOKEN)
    app = App(actions, bus, tray=False, wizard=False)
    try:
        bot_page = app.show_page("bot")
        bot_page.start_button.invoke()
        assert pump_until(app, lambda: bot_page.state_label.cget("text").startswith("running"), 60), \
            bot_page.state_label.cget("text")
        assert bot_page.stop_button.cget("state") == "normal"
        app.show_page("dashboard")
        assert pump_until(app, lambda: app.views["dashboard"].bot_state.cget("text").startswith("running"), 10)
        job_id = actions.start_job(JobSpec(name="train", argv=(sys.executable, str(FAKE_WORKER), "--steps",
                                                                "100000"), stop_grace=10.0))
        job = actions.runner.get(job_id)
        assert pump_until(app, lambda: job.state == "running", 30)
        bot_pid = actions.controller.pid
        assert bot_pid and psutil.pid_exists(bot_pid)
        app.on_close()
        app.close_dialog.quit_button.invoke()  # "Stop jobs and quit"
        assert pump_until(app, lambda: app.closed, 60)
    finally:
        if not app.closed:
            app.quit_app()
            pump_until(app, lambda: app.closed, 60)
    gone = lambda pid: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # noqa
    assert gone(bot_pid) and gone(job.process.pid) and not job.running
    assert all(gone(int(pid)) for pid in pids.read_text().split())
