"""The job runner against a real subprocess (tests/fake_worker.py speaking the real wire protocol)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from core.jobs.bus import EventBus
from core.jobs.events import (CheckpointSaved, JobFailed, JobFinished, JobLaunched, JobStarted, JobStateChanged,
                              LogLine, ProgressReported, StopJob)
from core.jobs.runner import JobRunner, JobSpec, new_job_id
from core.jobs.runs import METRICS_FILE, read_metrics, read_state

ROOT = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).with_name("fake_worker.py")


def fake_spec(*args: str, run_dir: Path | None = None, **options) -> JobSpec:
    argv = (sys.executable, str(FAKE), *args, *(("--run-dir", str(run_dir)) if run_dir else ()))
    return JobSpec(name="fake", argv=argv, run_dir=run_dir, **options)


def collect(sub, job, timeout: float = 30.0, until=None) -> list:
    """Events of ``job`` until its ending event (or ``until(event)``) arrives."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in sub.drain(timeout=0.2):
            if event.job_id != job.id:
                continue
            events.append(event)
            if isinstance(event, (JobFinished, JobFailed)) or (until and until(event)):
                return events
    raise AssertionError(f"job did not end in {timeout}s; got {events}")


def of(events, kind):
    return [event for event in events if isinstance(event, kind)]


def test_events_parsed_logs_streamed_and_run_recorded(tmp_path):
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--steps", "6", run_dir=tmp_path))
    events = collect(sub, job)
    assert job.wait(10) == 0
    launched = of(events, JobLaunched)
    assert len(launched) == 1 and launched[0].pid == job.process.pid
    assert of(events, JobStarted)[0].backend == "fake"
    assert [event.step for event in of(events, ProgressReported)] == [0, 1, 2, 3, 4, 5, 6]
    texts = [(event.stream, event.text) for event in of(events, LogLine)]
    assert ("stdout", "fake worker: loading") in texts
    assert ("stderr", "fake worker: a warning on stderr ünïcødé 🎉") in texts
    assert ("stdout", "step 3 done") in texts
    finished = events[-1]
    assert isinstance(finished, JobFinished) and finished.status == "finished"
    assert finished.result == {"final_loss": 0.5}
    # the run folder: log, metrics for replay, state
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "step 6 done" in log and "ünïcødé 🎉" in log
    replay = read_metrics(tmp_path)
    assert [event.step for event in of(replay, ProgressReported)] == [0, 1, 2, 3, 4, 5, 6]
    assert of(replay, ProgressReported)[-1].loss == 0.5
    state = read_state(tmp_path)
    assert state["status"] == "finished" and state["step"] == 6 and state["backend"] == "fake"


def test_eta_estimates_after_enough_steps():
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--steps", "8", "--step-seconds", "0.1"))
    progress = [event for event in of(collect(sub, job), ProgressReported) if not event.is_phase]
    assert [event.eta for event in progress[:3]] == [None, None, None]
    assert progress[3].eta is not None and 0 < progress[3].eta < 10
    assert progress[-1].eta == 0
    assert all(event.elapsed is not None and event.elapsed > 0 for event in progress)


def test_stop_is_honoured_at_a_step_boundary(tmp_path):
    bus = EventBus()
    sub = bus.subscribe("test")
    runner = JobRunner(bus)
    job = runner.start(fake_spec("--steps", "10000", run_dir=tmp_path))
    collect(sub, job, until=lambda event: isinstance(event, ProgressReported) and event.step >= 2)
    runner.handle(StopJob(job_id=job.id))
    events = collect(sub, job)
    assert job.wait(10) == 0
    checkpoint = of(events, CheckpointSaved)[0]
    assert events[-1].status == "stopped" and events[-1].step == checkpoint.step < 10000
    assert not job.forced
    assert not (tmp_path / "STOP").exists()
    assert read_state(tmp_path)["status"] == "stopped"


def test_stop_escalates_to_terminate_then_kill_when_ignored(tmp_path):
    bus = EventBus()
    sub = bus.subscribe("test")
    args = ["--steps", "10000", "--ignore-stop"]
    if sys.platform != "win32":
        args.append("--ignore-term")  # so that only the kill step can end it
    job = JobRunner(bus).start(fake_spec(*args, run_dir=tmp_path, stop_grace=0.5, terminate_grace=0.5))
    collect(sub, job, until=lambda event: isinstance(event, ProgressReported))
    started = time.monotonic()
    job.stop()
    assert job.state == "stopping" and read_state(tmp_path)["status"] == "stopping"  # recorded at once
    events = collect(sub, job)
    assert time.monotonic() - started < 15
    assert events[-1].status == "stopped"
    assert events[-1].result["forced"] == ("killed" if sys.platform != "win32" else "terminated")
    assert not psutil.pid_exists(job.process.pid) or psutil.Process(job.process.pid).status() == "zombie"
    assert "terminating" in (tmp_path / "run.log").read_text(encoding="utf-8")


def test_failure_reports_last_lines_and_advice(tmp_path):
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--fail-at", "3", run_dir=tmp_path))
    events = collect(sub, job)
    failed = events[-1]
    assert isinstance(failed, JobFailed) and failed.exit_code == 1
    assert "exited with code 1" in failed.message
    assert failed.last_lines[-1] == "ValueError: the fake worker failed on purpose"
    assert "step 2 done" in failed.last_lines
    assert failed.advice
    state = read_state(tmp_path)
    assert state["status"] == "failed" and "code 1" in state["message"]


def test_worker_reported_failure_passes_through_once():
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--oom-at", "2"))
    events = collect(sub, job)
    job.wait(10)
    time.sleep(0.2)
    events += [event for event in sub.drain() if event.job_id == job.id]
    failures = of(events, JobFailed)
    assert len(failures) == 1
    assert failures[0].advice == "lower per_device_batch_size"
    assert failures[0].last_lines == ("torch.OutOfMemoryError: CUDA out of memory",)


def test_malformed_marker_lines_become_log_lines(tmp_path):
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--garbage", "--steps", "2", run_dir=tmp_path))
    events = collect(sub, job)
    texts = [event.text for event in of(events, LogLine)]
    assert "@@dps-event@@ {not json" in texts
    assert any("no-such-event" in text for text in texts)
    assert any('"three"' in text for text in texts)
    assert "half a line then " in texts
    assert [event.step for event in of(events, ProgressReported)] == [0, 0, 1, 2]
    assert events[-1].status == "finished"
    lines = (tmp_path / METRICS_FILE).read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line)["event"] for line in lines)


PARENT_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from core.jobs.bus import EventBus
    from core.jobs.runner import JobRunner, JobSpec
    # a long silent step: the worker writes nothing for a minute, so only its watchdog can notice the parent died
    argv = (sys.executable, {fake!r}, "--steps", "10", "--step-seconds", "60", "--ignore-stop")
    env = {{"DPS_ORPHAN_GRACE": "1", **{extra_env!r}}}
    job = JobRunner(EventBus()).start(JobSpec(name="fake", argv=argv, env=env))
    print(job.process.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("extra_env", [{}, {"DPS_WORKER_CONTROL": "none"}], ids=["stdin-eof", "parent-pid-poll"])
def test_no_orphan_after_the_parent_dies(extra_env):
    script = PARENT_SCRIPT.format(root=str(ROOT), fake=str(FAKE), extra_env=extra_env)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        child = psutil.Process(child_pid)
        assert child.is_running()
        time.sleep(0.5)
        parent.kill()  # no chance to clean up: the child must notice on its own
        parent.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.2)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    finally:
        if parent.poll() is None:
            parent.kill()
        try:
            psutil.Process(child_pid).kill()
        except (psutil.Error, NameError, UnboundLocalError):
            pass


def states_of(events) -> list[str]:
    return [event.state for event in of(events, JobStateChanged)]


def test_a_raising_tap_and_recorder_do_not_stop_the_job(tmp_path, monkeypatch):
    """The worker prints far more than a pipe holds: if a failing callback killed a reader, it would block."""
    from core.jobs import runs
    calls = []

    def broken_record(self, event):
        calls.append(event)
        raise OSError("disk full (on purpose)")

    monkeypatch.setattr(runs.RunRecorder, "record", broken_record)
    bus = EventBus()
    sub = bus.subscribe("test")
    bus.tap(lambda event: (_ for _ in ()).throw(RuntimeError("tap fails on purpose")))
    job = JobRunner(bus).start(fake_spec("--steps", "40", "--step-seconds", "0", "--chatty", "40",
                                         run_dir=tmp_path))
    events = collect(sub, job, timeout=60)
    assert job.wait(10) == 0
    assert events[-1].status == "finished" and len(of(events, LogLine)) > 1600  # > 320 kB through the pipe
    assert len(calls) >= len(events)  # the recorder was called (and failed) for every event


def test_two_subscribers_each_see_every_event_and_filters_apply():
    bus = EventBus()
    panel, supervisor = bus.subscribe("panel"), bus.subscribe("supervisor")
    runner = JobRunner(bus)
    job_id = new_job_id("fake")
    only_job = bus.subscribe("job", job_id=job_id)
    only_states = bus.subscribe("states", types=(JobStateChanged,))
    bus.publish(LogLine(text="from elsewhere", job_id="other"))
    assert panel.drain() == supervisor.drain() == [LogLine(text="from elsewhere", job_id="other")]
    began = time.time()
    job = runner.start(fake_spec("--steps", "3"), job_id=job_id)
    first = collect(panel, job)
    second = collect(supervisor, job)
    assert first == second and len(first) > 8
    assert [event.job_id for event in only_job.drain(1000)] == [job_id] * len(first)
    assert [event for event in only_states.drain(1000)] == of(first, JobStateChanged)
    assert all(began <= event.time <= time.time() for event in first)  # each stamped when it was made
    only_job.close()
    bus.publish(LogLine(text="after close", job_id=job_id))
    assert not only_job.pending() and supervisor.drain() == [LogLine(text="after close", job_id=job_id)]


@pytest.mark.parametrize("args, expected", [
    (("--steps", "3"), ["starting", "running", "finished"]),
    (("--steps", "10000"), ["starting", "running", "stopping", "stopped"]),
    (("--fail-at", "2"), ["starting", "running", "failed"]),
], ids=["finished", "stopped", "failed"])
def test_job_states_in_order(args, expected):
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec(*args))
    assert job.state == "starting"
    events = collect(sub, job, until=lambda event: isinstance(event, ProgressReported) and event.step >= 1)
    if "stopping" in expected:
        job.stop()
        assert job.state in ("stopping", "stopped")  # a quick worker may be done already; the order is checked below
    events += collect(sub, job)
    assert states_of(events) == expected and job.state == expected[-1]
    changes = of(events, JobStateChanged)
    assert [change.previous for change in changes] == ["", *expected[:-1]]
    assert all(change.name == "fake" and change.job_id == job.id for change in changes)
    # the state change comes just before the event that caused it; the ending event stays last
    assert events.index(changes[1]) + 1 == events.index(of(events, JobStarted)[0])
    assert isinstance(events[-1], (JobFinished, JobFailed)) and events[-2] == changes[-1]


def test_request_lines_printed_by_a_worker_are_log_lines():
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--steps", "3", "--print-requests"))
    events = collect(sub, job)
    assert events[-1].status == "finished" and not job.stop_requested
    assert states_of(events) == ["starting", "running", "finished"]  # the forged "failed" state was ignored
    texts = [event.text for event in of(events, LogLine)]
    assert any(text.startswith("@@dps-request@@ ") for text in texts)
    assert '@@dps-event@@ {"event": "stop"}' in texts and '@@dps-event@@ {"event": "kill"}' in texts
    assert any('"state":"failed"' in text for text in texts)


def test_requests_travel_to_the_worker():
    from tests.fake_worker import Ping
    bus = EventBus()
    sub = bus.subscribe("test")
    runner = JobRunner(bus)
    job = runner.start(fake_spec("--steps", "10000"))
    collect(sub, job, until=lambda event: isinstance(event, ProgressReported) and event.step >= 1)
    runner.handle(Ping(job_id=job.id, text="hello ünï"))  # not stop/kill: forwarded as a request line
    events = collect(sub, job, until=lambda event: isinstance(event, LogLine) and event.text.startswith("pong"))
    assert events[-1].text == "pong hello ünï" and job.state == "running"
    job.stop()
    assert collect(sub, job)[-1].status == "stopped"


def test_shutdown_returns_at_once_and_stops_in_the_background():
    bus = EventBus()
    sub = bus.subscribe("test")
    runner = JobRunner(bus)
    jobs = [runner.start(fake_spec("--steps", "10000", "--ignore-stop", stop_grace=0.3, terminate_grace=0.3))
            for _ in range(2)]
    for job in jobs:
        collect(sub, job, until=lambda event: isinstance(event, ProgressReported) and event.step >= 1)
    started = time.monotonic()
    thread = runner.shutdown(timeout=0.5)
    assert time.monotonic() - started < 0.2
    thread.join(30)
    assert not thread.is_alive() and not any(job.running for job in jobs)
    assert all(job.state == "stopped" for job in jobs)


def test_a_stop_after_the_ending_event_asks_nothing_and_logs_nothing(tmp_path):
    """The app quitting while a finished worker is still tearing down: no "stop requested" after "finished"."""
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--steps", "2", "--step-seconds", "0.01", "--linger", "2", run_dir=tmp_path))
    events = []
    while not any(isinstance(event, JobFinished) for event in events):
        events.extend(sub.drain(timeout=5))
    assert job.running  # the process lingers after its ending event
    job.stop()
    assert job.wait(20) == 0 and job.forced == ""
    log = (tmp_path / "run.log").read_text(encoding="utf-8").splitlines()
    assert log[-1].endswith(" finished") and not any("stop requested" in line for line in log)
