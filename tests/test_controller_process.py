"""The supervisor against real child processes (tests/fake_bot.py speaking the real protocol), with short settings."""
from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from bot_controller.controller import BotController
from bot_controller.protocol import BOT_JOB_ID, BotStateChanged
from bot_controller.states import State
from core.config.supervisor import SupervisorConfig
from core.jobs.bus import EventBus
from core.jobs.events import LogLine
from core.jobs.runner import JobRunner, JobSpec

FAKE_BOT = Path(__file__).with_name("fake_bot.py")
FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"
# Beats every 0.2 s; ten missed (2 s) before a kill, so a loaded test machine does not restart a healthy bot; the hang
# test uses the real three.
FAST = dict(heartbeat_seconds=0.2, missed_heartbeats=10, start_timeout_seconds=15, backoff_base_seconds=0.1,
            backoff_cap_seconds=0.4, max_restarts_per_hour=5, stable_seconds=600, stop_grace_seconds=3,
            terminate_grace_seconds=1)


class Rig:
    def __init__(self, workspace, tmp_path: Path) -> None:
        self.workspace, self.pids_file = workspace, tmp_path / "pids.txt"
        self.bus = EventBus()
        self.events = self.bus.subscribe(name="test", job_id=BOT_JOB_ID)
        self.seen: list = []
        self.controllers: list[BotController] = []

    def controller(self, *args: str, **settings) -> BotController:
        argv = [sys.executable, str(FAKE_BOT), *args, "--pids", str(self.pids_file)]
        controller = BotController(self.workspace, self.bus, config=SupervisorConfig(**{**FAST, **settings}),
                                   argv=argv)
        self.controllers.append(controller)
        return controller

    def wait_event(self, predicate, timeout: float = 20.0):
        """The first event (seen before or arriving now) that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            while index < len(self.seen):
                if predicate(self.seen[index]):
                    return self.seen[index]
                index += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"no such event in {timeout}s; states: {self.states()}; "
                                     f"log: {[e.text for e in self.seen if isinstance(e, LogLine)][-10:]}")
            self.seen.extend(self.events.drain(timeout=0.1))

    def wait_state(self, state: str, **fields) -> BotStateChanged:
        return self.wait_event(lambda e: isinstance(e, BotStateChanged) and e.state == state and e.previous != state
                               and all(getattr(e, key) == value for key, value in fields.items()))

    def wait_log(self, text: str) -> LogLine:
        return self.wait_event(lambda e: isinstance(e, LogLine) and text in e.text)

    def states(self) -> list[str]:
        return [e.state for e in self.seen if isinstance(e, BotStateChanged) and e.state != e.previous]

    def pids(self) -> list[int]:
        return [int(line) for line in self.pids_file.read_text().split()] if self.pids_file.exists() else []


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def rig(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("DPS_BOT_TOKEN", TOKEN)
    rig = Rig(workspace, tmp_path)
    yield rig
    for controller in rig.controllers:
        controller.close(timeout=5)
    time.sleep(0.1)
    assert [pid for pid in rig.pids() if alive(pid)] == []  # no orphan survives the controller


def test_start_stop_with_events_on_the_bus_and_the_token_on_stdin(rig):
    controller = rig.controller()
    controller.start()
    running = rig.wait_state("running")
    assert running.pid == controller.pid == rig.pids()[0]
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()[:16]
    rig.wait_log(f"fake bot: token sha256 {digest}; token in env: False; token in argv: False")
    assert controller.status().activity == "ready"
    controller.stop()
    stopped = rig.wait_state("stopped")
    rig.wait_log("fake bot: stopped cleanly")
    assert stopped.exit_code == 0 and rig.states() == ["starting", "running", "stopping", "stopped"]
    log = (rig.workspace.logs_dir / "bot.log").read_text(encoding="utf-8")
    assert "fake bot: started" in log and TOKEN not in log


def test_kill_9_is_restarted(rig):
    controller = rig.controller()
    controller.start()
    first = rig.wait_state("running").pid
    psutil.Process(first).kill()
    exited = rig.wait_state("exited")
    assert exited.error and exited.retry_in == pytest.approx(0.1)
    if os.name != "nt":
        assert exited.exit_code == -signal.SIGKILL
    second = rig.wait_state("running", restarts=1)
    assert second.pid != first and not alive(first)


def test_crash_loop_goes_fatal(rig):
    controller = rig.controller("--crash-after", "0", max_restarts_per_hour=2)
    controller.start()
    fatal = rig.wait_state("fatal")
    assert "gave up after 2 restarts" in fatal.reason and "crashing on purpose" in fatal.reason
    assert controller.state is State.FATAL and len(rig.pids()) == 3
    time.sleep(1.0)
    assert len(rig.pids()) == 3  # no restart loop after FATAL


def test_bad_token_exit_is_fatal_without_restart(rig):
    controller = rig.controller("--exit-code", "78")
    controller.start()
    fatal = rig.wait_state("fatal")
    assert fatal.exit_code == 78 and "token" in fatal.reason and "401 Unauthorized (fake)" in fatal.reason
    assert TOKEN not in fatal.reason
    time.sleep(1.0)
    assert len(rig.pids()) == 1 and rig.states() == ["starting", "fatal"]


def test_missed_heartbeats_kill_and_restart_a_hung_bot(rig):
    controller = rig.controller("--hang-after", "0.5", missed_heartbeats=3)
    controller.start()
    first = rig.wait_state("running").pid
    rig.wait_log("fake bot: hanging")
    exited = rig.wait_state("exited")
    assert exited.reason.startswith("missed 3 heartbeats")
    second = rig.wait_state("running", restarts=1)
    assert second.pid != first and not alive(first)


def test_requests_reach_the_child_over_stdin(rig):
    controller = rig.controller()
    controller.start()
    rig.wait_state("running")
    controller.pause("maintenance")
    rig.wait_log("fake bot: paused (maintenance)")
    assert controller.status().activity in ("ready", "paused")
    controller.resume()
    rig.wait_log("fake bot: resumed")
    assert controller.reload_model("models/new.gguf") and controller.settings_changed(["bot"])
    rig.wait_log("fake bot: reload models/new.gguf")
    rig.wait_log("fake bot: settings changed ['bot']")


def test_a_training_job_pauses_the_bot_and_its_end_resumes_it(rig):
    controller = rig.controller()
    controller.start()
    rig.wait_state("running")
    runner = JobRunner(rig.bus)
    job = runner.start(JobSpec(name="train", argv=(sys.executable, str(FAKE_WORKER), "--steps", "10",
                                                    "--step-seconds", "0.05")))
    paused = rig.wait_event(lambda e: isinstance(e, BotStateChanged) and e.paused)
    assert job.id in paused.reason
    rig.wait_log(f"fake bot: paused (training job {job.id} is using the GPU)")
    assert job.wait(20) == 0
    rig.wait_event(lambda e: isinstance(e, BotStateChanged) and e.reason == "resumed" and not e.paused)
    rig.wait_log("fake bot: resumed")


def test_a_bot_that_ignores_stop_is_terminated_then_killed(rig):
    controller = rig.controller("--ignore-stop", "--ignore-term", stop_grace_seconds=0.3,
                                terminate_grace_seconds=0.3)
    controller.start()
    pid = rig.wait_state("running").pid
    controller.stop()
    rig.wait_state("stopped")
    texts = [e.text for e in rig.seen if isinstance(e, LogLine) and e.stream == "supervisor"]
    assert any("terminating" in text for text in texts) and any("killing the bot" in text for text in texts)
    assert not alive(pid)
