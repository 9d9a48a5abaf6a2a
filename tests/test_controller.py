"""The supervisor loop with a fake clock and a fake Popen: every transition as the controller carries it out."""
from __future__ import annotations

import itertools
import os
import time

import pytest

from bot_controller.controller import BotController
from bot_controller.protocol import (ENV_HEARTBEAT, ENV_START_PAUSED, ENV_TOKEN_ON_STDIN, EXIT_BAD_TOKEN, EXIT_CONFIG,
                                     BotHeartbeat, BotStateChanged, PauseBot, ReloadModel, ResumeBot, SettingsChanged)
from bot_controller.states import State
from core.config.supervisor import SupervisorConfig
from core.jobs import wire
from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, JobStateChanged, StopJob
from core.jobs.runner import worker_argv

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"
CONFIG = SupervisorConfig(heartbeat_seconds=5, missed_heartbeats=3, start_timeout_seconds=60, backoff_base_seconds=1,
                          backoff_cap_seconds=8, max_restarts_per_hour=5, stable_seconds=300, stop_grace_seconds=15,
                          terminate_grace_seconds=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeStdin:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def lines(self) -> list[str]:
        return self.data.decode().splitlines()


class FakeProcess:
    _pids = itertools.count(4242)

    def __init__(self, argv, env=None, **options) -> None:
        self.argv, self.env, self.options = argv, env, options
        self.pid = next(self._pids)
        self.returncode = None
        self.stdin, self.stdout, self.stderr = FakeStdin(), None, None
        self.signals: list[str] = []

    def poll(self):
        return self.returncode

    def terminate(self) -> None:
        self.signals.append("terminate")

    def kill(self) -> None:
        self.signals.append("kill")


class FakePopen:
    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []
        self.error: OSError | None = None

    def __call__(self, argv, **options) -> FakeProcess:
        if self.error:
            raise self.error
        process = FakeProcess(argv, **options)
        self.processes.append(process)
        return process

    @property
    def last(self) -> FakeProcess:
        return self.processes[-1]


def eventually(condition, timeout: float = 3.0) -> None:
    """The writer thread sends stdin lines a moment later."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def requests_of(process: FakeProcess) -> list:
    return [wire.parse_request(line) for line in process.stdin.lines if wire.parse_request(line) is not None]


@pytest.fixture
def rig(workspace, monkeypatch):
    monkeypatch.setenv("DPS_BOT_TOKEN", TOKEN)

    class Rig:
        clock, popen, bus = FakeClock(), FakePopen(), EventBus()
        events = bus.subscribe(name="test", types=(BotStateChanged,))
        controller = BotController(workspace, bus, clock, popen, config=CONFIG, background=False)

        def states(self) -> list[BotStateChanged]:
            return self.events.drain(max_items=1000)

        def beat(self) -> None:
            self.controller._child.handle_line(wire.encode(BotHeartbeat(status="ready")))
            self.controller.tick()

        def run(self) -> FakeProcess:
            self.controller.start()
            self.beat()
            assert self.controller.state is State.RUNNING
            return self.popen.last

        def exit(self, code: int) -> None:
            self.popen.last.returncode = code
            self.controller.tick()

        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)
            self.controller.tick()

    yield Rig()
    for process in Rig.popen.processes:
        process.returncode = -9 if process.returncode is None else process.returncode
    Rig.controller.close(timeout=1)


def test_start_launches_the_bot_worker_with_the_token_on_stdin_only(rig, workspace):
    rig.controller.start()
    process = rig.popen.last
    assert rig.controller.state is State.STARTING
    assert process.argv == list(worker_argv("bot", "--workspace", str(workspace.root)))
    assert TOKEN not in " ".join(process.argv) and TOKEN not in "".join(process.env.values())
    assert "DPS_BOT_TOKEN" not in process.env
    assert process.env[ENV_TOKEN_ON_STDIN] == "1" and float(process.env[ENV_HEARTBEAT]) == 5
    assert process.env[wire.ENV_CONTROL] == "stdin" and process.env[wire.ENV_PARENT_PID] == str(os.getpid())
    assert process.options["start_new_session" if os.name != "nt" else "creationflags"]
    eventually(lambda: process.stdin.lines[:1] == [TOKEN])
    [event] = rig.states()
    assert (event.state, event.previous, event.pid) == ("starting", "stopped", process.pid)


def test_a_keyring_token_is_not_sent(rig, monkeypatch):
    from core.config import secrets
    monkeypatch.delenv("DPS_BOT_TOKEN")
    secrets.set_token(TOKEN)
    try:
        rig.controller.start()
        rig.controller.send(ReloadModel())
        eventually(lambda: len(rig.popen.last.stdin.lines) == 1)
        assert TOKEN not in rig.popen.last.stdin.data.decode() and ENV_TOKEN_ON_STDIN not in rig.popen.last.env
    finally:
        secrets.delete_token()


def test_first_heartbeat_means_running_and_uptime_counts(rig):
    rig.run()
    assert rig.controller.uptime() == 0
    rig.clock.advance(4)
    rig.beat()
    assert rig.controller.uptime() == 4
    status = rig.controller.status()
    assert status.state is State.RUNNING and status.heartbeat_age == 0 and status.activity == "ready"
    assert [event.state for event in rig.states()] == ["starting", "running"]


def test_three_missed_heartbeats_kill_and_restart(rig):
    first = rig.run()
    rig.advance(14.9)
    assert first.signals == []
    rig.advance(0.1)
    assert first.signals == ["kill"]
    rig.advance(1)
    assert first.signals == ["kill"]  # one kill, then wait for the exit
    rig.exit(-9)
    assert rig.controller.state is State.EXITED
    exited = rig.states()[-1]
    assert exited.retry_in == 1 and exited.error and exited.reason.startswith("missed 3 heartbeats")
    assert exited.exit_code == -9 and exited.restarts == 1
    rig.advance(1)
    assert rig.controller.state is State.STARTING and len(rig.popen.processes) == 2
    rig.beat()
    assert rig.controller.state is State.RUNNING


def test_no_first_heartbeat_within_the_start_timeout(rig):
    rig.controller.start()
    rig.advance(60)
    assert rig.popen.last.signals == ["kill"]
    rig.exit(-9)
    assert rig.controller.state is State.BACKOFF
    assert "no heartbeat within 60s" in rig.controller.last_error


def test_crash_loop_backs_off_exponentially_then_goes_fatal(rig):
    rig.controller.start()
    delays = []
    for _ in range(6):
        rig.exit(1)
        if rig.controller.state is State.FATAL:
            break
        assert rig.controller.state is State.BACKOFF
        delays.append(rig.controller.status().retry_in)
        rig.advance(delays[-1] - 0.01)
        assert rig.controller.state is State.BACKOFF
        rig.advance(0.01)
        assert rig.controller.state is State.STARTING
    assert delays == [1, 2, 4, 8, 8]
    assert rig.controller.state is State.FATAL and len(rig.popen.processes) == 6
    assert "gave up after 5 restarts" in rig.controller.last_error
    rig.advance(3600)
    assert rig.controller.state is State.FATAL and len(rig.popen.processes) == 6  # no restart loop
    rig.controller.start()  # by hand: a fresh budget
    assert rig.controller.state is State.STARTING and rig.controller.last_error == ""


@pytest.mark.parametrize("code, words", [(EXIT_BAD_TOKEN, "token"), (EXIT_CONFIG, "configuration")])
def test_bad_token_or_config_is_fatal_at_once(rig, code, words):
    rig.controller.start()
    rig.controller._child.handle_line(wire.encode(JobFailed(message="401 Unauthorized", exit_code=code)))
    rig.exit(code)
    assert rig.controller.state is State.FATAL
    assert words in rig.controller.last_error and "401 Unauthorized" in rig.controller.last_error
    rig.advance(600)
    assert len(rig.popen.processes) == 1
    fatal = rig.states()[-1]
    assert fatal.state == "fatal" and fatal.error and fatal.exit_code == code and fatal.retry_in is None


def test_a_clean_exit_on_its_own_is_not_restarted(rig):
    rig.run()
    rig.exit(0)
    rig.advance(600)
    assert rig.controller.state is State.EXITED and len(rig.popen.processes) == 1
    assert rig.controller.status().retry_in is None


def test_stop_is_cooperative_then_terminate_then_kill(rig):
    process = rig.run()
    rig.controller.stop()
    assert rig.controller.state is State.STOPPING
    eventually(lambda: isinstance(requests_of(process)[-1:][0] if requests_of(process) else None, StopJob))
    rig.advance(14)
    assert process.signals == []
    rig.advance(1)
    assert process.signals == ["terminate"]
    rig.advance(5)
    assert process.signals == ["terminate", "kill"]
    rig.exit(-9)
    assert rig.controller.state is State.STOPPED
    rig.advance(600)
    assert len(rig.popen.processes) == 1


def test_a_quick_stop_ends_without_force(rig):
    process = rig.run()
    rig.controller.stop()
    rig.exit(0)
    assert rig.controller.state is State.STOPPED and process.signals == []
    assert [event.state for event in rig.states()] == ["starting", "running", "stopping", "stopped"]


def test_restart_stops_then_starts_a_new_child(rig):
    first = rig.run()
    rig.controller.restart()
    assert rig.controller.state is State.STOPPING
    rig.exit(0)
    assert rig.controller.state is State.STARTING and rig.popen.last is not first


def test_stop_during_backoff_cancels_the_retry(rig):
    rig.controller.start()
    rig.exit(1)
    rig.controller.stop()
    rig.advance(600)
    assert rig.controller.state is State.STOPPED and len(rig.popen.processes) == 1


def test_requests_reach_the_child_and_only_while_it_runs(rig):
    assert rig.controller.reload_model("m.gguf") is False
    process = rig.run()
    assert rig.controller.reload_model("m.gguf") and rig.controller.settings_changed(["bot"])
    eventually(lambda: len(requests_of(process)) == 2)
    assert requests_of(process) == [ReloadModel(path="m.gguf"), SettingsChanged(sections=["bot"])]


def test_pause_resume_and_a_child_started_while_paused(rig):
    process = rig.run()
    rig.controller.pause("maintenance")
    rig.controller.resume()
    eventually(lambda: len(requests_of(process)) == 2)
    assert requests_of(process) == [PauseBot(reason="maintenance"), ResumeBot()]
    changes = [(event.state, event.previous, event.paused) for event in rig.states()][-2:]
    assert changes == [("running", "running", True), ("running", "running", False)]
    rig.controller.pause("maintenance")
    rig.exit(1)
    rig.advance(1)
    restarted = rig.popen.last
    assert restarted is not process and restarted.env[ENV_START_PAUSED] == "1"
    eventually(lambda: requests_of(restarted) == [PauseBot(reason="maintenance")])


def test_a_training_job_pauses_the_bot_until_it_ends(rig):
    process = rig.run()
    rig.bus.publish(JobStateChanged(job_id="export-1", name="export", state="running"))
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="starting", previous=""))
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="running", previous="starting"))
    rig.controller.tick()
    assert rig.controller.paused
    assert rig.controller.status().pause_reasons == ("training job train-1 is using the GPU",)
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="finished", previous="running"))
    rig.controller.tick()
    assert not rig.controller.paused
    eventually(lambda: len(requests_of(process)) == 2)
    assert [type(request) for request in requests_of(process)] == [PauseBot, ResumeBot]


def test_a_user_pause_outlasts_a_training_job(rig):
    rig.run()
    rig.controller.pause("by hand")
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="running"))
    rig.controller.tick()
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="failed"))
    rig.controller.tick()
    assert rig.controller.paused


def test_pausing_for_training_can_be_turned_off(rig):
    rig.controller.config.pause_for_training = False
    rig.run()
    rig.bus.publish(JobStateChanged(job_id="train-1", name="train", state="running"))
    rig.controller.tick()
    assert not rig.controller.paused


def test_no_token_is_fatal_without_a_launch(rig, monkeypatch):
    monkeypatch.delenv("DPS_BOT_TOKEN")
    rig.controller.start()
    assert rig.controller.state is State.FATAL and rig.popen.processes == []
    assert "launcher.py token set" in rig.controller.last_error


def test_a_launch_that_fails_is_fatal(rig):
    rig.popen.error = FileNotFoundError(2, "No such file or directory")
    rig.controller.start()
    assert rig.controller.state is State.FATAL and "could not start the bot" in rig.controller.last_error
    assert [event.state for event in rig.states()] == ["starting", "fatal"]


def test_a_child_cannot_send_requests_to_its_parent(rig):
    rig.run()
    seen = rig.bus.subscribe(name="all")
    rig.controller._child.handle_line(wire.encode_request(PauseBot(reason="from the child")))
    rig.controller.tick()
    published = seen.drain()
    assert not rig.controller.paused and not any(isinstance(event, PauseBot) for event in published)
    assert [type(event).__name__ for event in published] == ["LogLine"]


def test_the_policy_comes_from_the_supervisor_table_of_config_toml(workspace):
    from core.config.strict import ConfigError
    workspace.config_path.write_text("[supervisor]\nheartbeat_seconds = 1\nmax_restarts_per_hour = 2\n"
                                     "pause_for_training = false\n", encoding="utf-8")
    controller = BotController(workspace, EventBus(), background=False)
    assert (controller.policy.heartbeat_seconds, controller.policy.max_restarts) == (1.0, 2)
    assert controller.config.pause_for_training is False and controller.policy.missed_heartbeats == 3
    controller.close()
    workspace.config_path.write_text("[supervisor]\nheartbeat = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'supervisor.heartbeat'"):
        BotController(workspace, EventBus(), background=False)
