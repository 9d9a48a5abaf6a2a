"""The wire protocol, events, the event bus, ETA estimates and run folders, without subprocesses."""
from __future__ import annotations

import io
import json
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from core.jobs import runs

from core.jobs import wire
from core.jobs.bus import EventBus
from core.jobs.eta import EtaEstimator, format_eta
from core.jobs.events import (CheckpointSaved, EvalReported, JobFailed, JobFinished, JobStarted, LogLine,
                         ProgressReported, from_dict, to_dict)

EXAMPLES = [
    JobStarted(name="train", backend="peft-lora", device="cpu", total_steps=30, details={"model": "x"}),
    ProgressReported(step=3, total=30, epoch=0.1, loss=2.5, learning_rate=1e-4, grad_norm=0.7,
                     tokens_per_second=812.5, vram_used=1.5, vram_peak=2.0),
    EvalReported(step=10, eval_loss=2.1, metrics={"eval_mean_token_accuracy": 0.4}),
    CheckpointSaved(step=10, path="runs/x/checkpoints/checkpoint-10"),
    JobFinished(status="stopped", step=10, result={"adapter": "a"}, seconds=12.5),
    JobFailed(message="out of memory", advice="lower max_length", last_lines=("a", "b 🎉"), exit_code=1),
    LogLine(text="hello ünïcødé", stream="stderr"),
]


def test_every_event_round_trips_through_the_wire():
    for event in EXAMPLES:
        line = wire.encode(event)
        assert line.startswith(wire.MARKER) and "\n" not in line
        assert wire.parse_line(line + "\n") == [event]


def test_human_lines_pass_through():
    assert wire.parse_line("Loading weights 50%\n", "stderr") == [LogLine(text="Loading weights 50%", stream="stderr")]


def test_malformed_marker_lines_become_log_lines():
    for line in [wire.MARKER + "{oops", wire.MARKER + "[1, 2]", wire.MARKER + '{"event": "nope"}',
                 wire.MARKER + '{"event": "progress", "step": true}', wire.MARKER + '{"event": "failed", '
                 '"last_lines": "not a list"}', wire.MARKER + "NaN"]:
        (event,) = wire.parse_line(line)
        assert event == LogLine(text=line)


def test_text_before_a_marker_is_kept():
    event = CheckpointSaved(step=4, path="p")
    assert wire.parse_line("50%|#### " + wire.encode(event)) == [LogLine(text="50%|#### "), event]


def test_unknown_fields_are_ignored_for_newer_workers():
    assert from_dict({"event": "checkpoint", "step": 2, "path": "p", "sha": "x"}) == CheckpointSaved(step=2, path="p")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsing_never_crashes(text):
    for candidate in (text, wire.MARKER + text):
        events = wire.parse_line(candidate)
        assert events and all(isinstance(to_dict(event), dict) for event in events)


def test_worker_link_emits_and_notices_stop(tmp_path):
    out = io.StringIO()
    link = wire.WorkerLink(stream=out, stop_file=tmp_path / "STOP")
    link.emit(ProgressReported(step=1, total=2))
    assert wire.parse_line(out.getvalue()) == [ProgressReported(step=1, total=2)]
    assert not link.stop_requested()
    (tmp_path / "STOP").touch()
    assert link.stop_requested() and link.stop_reason == "stop file"


def test_worker_link_reads_stop_lines_and_survives_a_closed_stream():
    link = wire.WorkerLink(stream=io.StringIO())
    link._read_control(io.StringIO("hello\nstop\n"), grace=3600)
    assert link.stop_requested() and link.stop_reason == "stop requested"
    closed = io.StringIO()
    closed.close()
    link = wire.WorkerLink(stream=closed)
    link.emit(JobFinished())  # no exception: the parent is gone
    assert link.detached


def test_bus_drains_in_bounded_batches_from_many_threads():
    bus = EventBus()
    sub = bus.subscribe("test")
    threads = [threading.Thread(target=lambda n=n: [bus.publish(LogLine(text=f"{n}-{i}")) for i in range(250)])
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batches = []
    while sub.pending():
        batches.append(sub.drain(max_items=300))
    assert [len(batch) for batch in batches] == [300, 300, 300, 100]
    texts = [event.text for batch in batches for event in batch]
    assert len(set(texts)) == 1000
    assert [t for t in texts if t.startswith("2-")] == [f"2-{i}" for i in range(250)]  # per-thread order kept
    assert sub.drain(timeout=0.01) == []


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_eta_estimates_from_this_starts_pace():
    clock = FakeClock()
    eta = EtaEstimator(clock, min_steps=3)
    assert eta.observe(50, 100) is None  # resumed at step 50: the mark, not step 0
    for step in (51, 52):
        clock.now += 2.0
        assert eta.observe(step, 100) is None
    clock.now += 2.0
    assert eta.observe(53, 100) == 47 * 2.0
    assert eta.observe(60, None) is None
    assert format_eta(None) == "estimating" and format_eta(42) == "42s"
    assert format_eta(185) == "3m 05s" and format_eta(3720) == "1h 02m"


def test_run_folders_list_find_and_replay(tmp_path):
    first = runs.create_run(tmp_path, {"base_model": {"source": "m.gguf", "kind": "gguf"}})
    second = runs.create_run(tmp_path, {"base_model": {"source": "other", "kind": "folder"}})
    assert json.loads((first / runs.CONFIG_FILE).read_text())["run_id"] == first.name
    assert runs.find_run(tmp_path, first.name) == first
    assert runs.find_run(tmp_path, "latest") in (first, second)
    assert {info.run_id for info in runs.list_runs(tmp_path)} == {first.name, second.name}
    recorder = runs.RunRecorder(first)
    for step, loss in [(1, 3.0), (2, 2.5), (3, 2.2), (2, 2.4), (3, 2.1), (4, 2.0)]:  # 2-3 redone after a resume
        recorder.record(ProgressReported(step=step, total=4, loss=loss))
    recorder.record(JobFinished(status="finished", step=4))
    recorder.close()
    replay = [event for event in runs.read_metrics(first) if isinstance(event, ProgressReported)]
    assert [(event.step, event.loss) for event in replay] == [(1, 3.0), (2, 2.4), (3, 2.1), (4, 2.0)]
    info = runs.run_info(first)
    assert info.status == "finished" and info.step == 4 and info.final_loss == 2.0
    runs.write_state(second, status="running", pid=2 ** 22 + 12345)  # a pid that is not alive
    assert runs.run_info(second).status == "interrupted"


def test_requests_never_come_out_of_the_event_parser():
    from core.jobs.events import KillJob, StopJob
    for request in (StopJob(job_id="j"), KillJob()):
        line = wire.encode_request(request)
        assert line.startswith(wire.REQUEST_MARKER)
        assert wire.parse_line(line) == [LogLine(text=line)]  # printed by a worker: a log line
        assert wire.parse_request(line) == request               # on the worker's stdin: the request
        forged = wire.MARKER + json.dumps({"event": "stop" if isinstance(request, StopJob) else "kill"})
        assert wire.parse_line(forged) == [LogLine(text=forged)]
    assert wire.parse_request("stop\n") == StopJob()  # the old plain line still works
    assert wire.parse_request(wire.encode(JobFinished())) is None  # an event is not a request
    assert wire.parse_request(wire.REQUEST_MARKER + "{broken") is None


def test_other_packages_register_events_and_requests():
    import dataclasses
    import pytest
    from core.jobs.events import Event, Request, register_event, register_request, request_from_dict

    @register_event("test-heartbeat")
    @dataclasses.dataclass(frozen=True)
    class Heartbeat(Event):
        uptime: float = 0.0

    @register_request("test-pause")
    @dataclasses.dataclass(frozen=True)
    class Pause(Request):
        minutes: int = 0

    event = Heartbeat(uptime=5.5)
    assert wire.parse_line(wire.encode(event)) == [event]
    assert request_from_dict(to_dict(Pause(minutes=3))) == Pause(minutes=3)
    with pytest.raises(ValueError):
        from_dict(to_dict(Pause(minutes=3)))  # a request is never an event
    with pytest.raises(ValueError):
        register_event("progress")(Heartbeat)  # names are unique across both registries
    with pytest.raises(TypeError):
        register_request("test-not-a-request")(Heartbeat)


def test_worker_link_calls_request_handlers_and_survives_a_failing_one():
    from core.jobs.events import Request, StopJob, register_request
    import dataclasses

    @register_request("test-settings")
    @dataclasses.dataclass(frozen=True)
    class Settings(Request):
        value: str = ""

    link = wire.WorkerLink(stream=io.StringIO())
    seen = []
    link.on_request("test-settings", lambda request: 1 / 0)
    link.on_request("test-settings", seen.append)
    link.on_request("stop", seen.append)
    control = "".join(wire.encode_request(item) + "\n" for item in (Settings(value="a"), Settings(value="b")))
    link._read_control(io.StringIO(control + "not a request\n" + wire.encode_request(StopJob()) + "\n"),
                       grace=3600)
    assert seen == [Settings(value="a"), Settings(value="b"), StopJob()]
    assert link.stop_requested() and link.stop_reason == "stop requested"


def test_a_failing_tap_never_reaches_the_publisher(caplog):
    bus = EventBus()
    sub = bus.subscribe("test")
    recorded = []
    bus.tap(lambda event: 1 / 0)
    bus.tap(recorded.append)
    for index in range(5):
        bus.publish(LogLine(text=str(index)))
    assert len(recorded) == 5 and len(sub.drain()) == 5
    assert sum("failed on LogLine" in record.getMessage() for record in caplog.records) == 3  # then only counted


def test_events_carry_their_time_and_keep_it_through_the_wire():
    import time
    before = time.time()
    event = ProgressReported(step=1)
    assert before <= event.time <= time.time()
    (parsed,) = wire.parse_line(wire.encode(event))
    assert parsed.time == event.time
    assert ProgressReported(step=1) == event  # time is not part of what an event says
