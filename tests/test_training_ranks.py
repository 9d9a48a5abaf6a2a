"""The ranks of a data-parallel run, without a model: tests/rank_probe.py as two gloo processes under Accelerate's
launcher (the command line ``core.training.processes.launch_argv`` builds), through the real job runner, with the real
``EventCallback`` and ``model.distributed`` link. Only rank 0 reports; a stop reaches both ranks at the same step
(the slower rank 1 included) whether it came on rank 0's stdin alone or as the STOP file every rank watches."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, JobFinished, JobStarted, LogLine, ProgressReported, StopJob
from core.jobs.runner import JobRunner
from core.jobs.specs import JobSpec
from core.training.processes import launch_argv

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.name == "nt", reason="several processes are Linux-only (core.training.processes)")]
PROBE = Path(__file__).resolve().parent / "rank_probe.py"


@pytest.mark.parametrize("stop_with", ["stdin", "stop"])
def test_a_stop_reaches_every_rank_at_the_same_step_and_only_rank_0_reports(tmp_path, stop_with):
    bus = EventBus()
    subscription = bus.subscribe("test")
    argv = launch_argv((sys.executable, str(PROBE), "--step-seconds", "0.05"), 2, cpu_threads=1)
    job = JobRunner(bus).start(JobSpec(name="probe", argv=argv, run_dir=tmp_path, stop_grace=300))
    events, asked, deadline = [], False, time.monotonic() + 600
    while time.monotonic() < deadline and not isinstance(events[-1:] and events[-1], (JobFinished, JobFailed)):
        for event in subscription.drain(timeout=0.5):
            events.append(event)
            if isinstance(event, ProgressReported) and event.step >= 3 and not asked:
                asked = True
                if stop_with == "stdin":
                    job.send_request(StopJob(job_id=job.id))  # rank 0 alone reads it
                else:
                    job.stop()  # what the app does: the STOP file (every rank) and a stdin line (rank 0)
    assert job.wait(60) == 0, [event for event in events if isinstance(event, (LogLine, JobFailed))][-20:]
    while batch := subscription.drain(timeout=0.5):  # rank 1's last lines may come after rank 0's ending
        events += batch
    ending = next(event for event in events if isinstance(event, (JobFinished, JobFailed)))
    assert isinstance(ending, JobFinished) and ending.status == "stopped", ending
    assert ending.result["last_steps"] == [ending.step, ending.step] and ending.result["saved"]
    started = [event for event in events if isinstance(event, JobStarted)]
    assert [(event.details["rank"], event.details["processes"]) for event in started] == [(0, 2)]
    progress = [event for event in events if isinstance(event, ProgressReported)]
    assert {event.message for event in progress} == {"rank 0"}  # rank 1 emits nothing
    assert [event.step for event in progress] == list(range(1, ending.step + 1))
    lines = [event.text for event in events if isinstance(event, LogLine)]
    assert f"rank 1 stopped at step {ending.step}" in lines  # its human lines still reach the log
