"""``launcher.py bot``: the supervisor in the foreground, stopped by Ctrl+C, leaving no child behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from bot_controller.launch import ORPHAN_GRACE_SECONDS

ROOT = Path(__file__).resolve().parents[1]
FAKE_BOT = Path(__file__).with_name("fake_bot.py")
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"

# launcher.main with the bot worker's argv pointed at the fake bot: everything else is the real command.
WRAPPER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv.pop(1))
    fake = [sys.executable, sys.argv.pop(1), "--pids", sys.argv.pop(1)]
    import bot_controller.launch as launch
    launch.worker_argv = lambda *args: tuple(fake)
    import launcher
    sys.exit(launcher.main(sys.argv[1:]))
""")


def environment(token: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DPS_BOT_TOKEN"}
    env["PYTHON_KEYRING_BACKEND"] = "tests.memory_keyring.MemoryKeyring"
    env["PYTHONPATH"] = str(ROOT)
    if token:
        env["DPS_BOT_TOKEN"] = token
    return env


class Lines:
    """Collects a pipe's lines on a thread so the test can wait for one without blocking forever."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen; got {self.lines}")
            time.sleep(0.05)

    def text(self) -> str:
        self._thread.join(5)
        return "\n".join(self.lines)


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT; on Windows Ctrl+C reaches the app as KeyboardInterrupt too")
def test_ctrl_c_stops_the_bot_cleanly_and_leaves_no_child(workspace, tmp_path):
    pids = tmp_path / "pids.txt"
    launcher = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(ROOT), str(FAKE_BOT), str(pids), "--workspace", str(workspace.root), "bot"],
        cwd=ROOT, env=environment(TOKEN), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stderr = Lines(launcher.stderr)
        stderr.wait_for("bot: running")
        child = int(pids.read_text().split()[0])
        assert psutil.pid_exists(child)
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    text = stderr.text()
    assert "stopping the bot (Ctrl+C again to kill it)" in text
    assert "fake bot: stopped cleanly" in text and "bot: stopped" in text
    assert TOKEN not in text and TOKEN not in launcher.stdout.read()
    time.sleep(0.1)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_without_a_token_the_command_fails_in_one_line(workspace):
    result = subprocess.run([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace.root), "bot"],
                            cwd=ROOT, env=environment(None), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("error: could not start the bot: no bot token is stored: run "
                                                      "`launcher.py token set` (or set DPS_BOT_TOKEN)")


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL; the same lifeline (stdin EOF, parent pid) serves Windows")
def test_a_bot_whose_supervisor_dies_exits_on_its_own(workspace, tmp_path):
    pids = tmp_path / "pids.txt"
    launcher = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(ROOT), str(FAKE_BOT), str(pids), "--workspace", str(workspace.root), "bot"],
        cwd=ROOT, env=environment(TOKEN), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        Lines(launcher.stderr).wait_for("bot: running")
        child = psutil.Process(int(pids.read_text().split()[0]))
        launcher.kill()  # no cleanup runs: only the child's own watch of its stdin can end it
        launcher.wait(10)
        killed = time.monotonic()
        child.wait(10)
        assert time.monotonic() - killed < ORPHAN_GRACE_SECONDS  # it stopped at once, before the orphan timer
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in map(int, pids.read_text().split() if pids.exists() else ()):
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()  # a failed test must not leave a fake bot behind
