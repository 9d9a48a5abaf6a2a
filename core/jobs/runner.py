"""The job runner: starts workers as subprocesses, turns their output into events, stops them.

One runner serves the CLI, the GUI and the tray. A job is an argv list (never a shell), run with unbuffered UTF-8
pipes; two reader threads parse stdout/stderr with ``core.jobs.wire`` and publish events on the bus, a waiter thread
publishes the ending event. Jobs with a run folder are recorded there (``core.jobs.runs.RunRecorder``) as events arrive,
so the log and metrics survive the app. Stop is cooperative first (a StopJob request on stdin plus the run's STOP
file, honoured at the worker's next step boundary), then terminate, then kill (the whole process tree), each after its
grace period. The worker watches its stdin and our pid and exits when we die (see ``core.jobs.wire``).

A job has a state (``starting`` until the worker's JobStarted, ``running``, ``stopping``, then ``finished``,
``stopped`` or ``failed``); each change is published as JobStateChanged just before the event that caused it, so
the ending event stays the last event of a job. Nothing here lets a callback stop a reader thread: the recorder and
the bus are guarded, because a reader that dies leaves the worker blocked on a full pipe. Writes to the worker's
stdin go through one writer thread, so neither ``stop()`` nor ``send_request()`` can block the caller (a UI thread).
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import replace
from typing import Callable, Iterable

from core.jobs import wire
from core.jobs.advice import advice_for
from core.jobs.bus import EventBus
from core.jobs.events import (ENDED_STATES, ENDING_EVENTS, Event, JobFailed, JobFinished, JobLaunched, JobStarted,
                              JobStateChanged, KillJob, LogLine, Message, ProgressReported, Request, StopJob)
from core.jobs.eta import RunEta
from core.jobs.processes import kill_tree, platform_options, write_lines
from core.jobs.specs import JobSpec, new_job_id, worker_argv  # noqa: F401 (the runner's public names, as before)

TAIL_LINES = 40           # log lines kept in memory for a failure report
FAILURE_LINES = 20        # of those, how many a JobFailed carries
SECRET_ENV = ("DPS_BOT_TOKEN",)  # workers never need the bot token; keep it out of their environment
SHUTDOWN_KILL_WAIT = 10.0  # after a kill at shutdown, how long to wait for the ending to be published

log = logging.getLogger(__name__)


class Job:
    """One running (or ended) worker process. Created by ``JobRunner.start``."""

    def __init__(self, spec: JobSpec, publish: Callable[[Event], None], clock: Callable[[], float],
                 job_id: str | None = None) -> None:
        self.id = job_id or new_job_id(spec.name)
        self.spec = spec
        self._publish_raw = publish
        self._clock = clock
        self._eta = RunEta(clock)
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self.ending_event: Event | None = None
        self.stop_requested = False
        self.forced: str = ""          # "terminated" or "killed" when we had to end it
        self.process: subprocess.Popen | None = None
        self.started_at = clock()
        self.state = "starting"
        self._requests: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.recorder = None
        if spec.run_dir is not None:
            from core.jobs.runs import RunRecorder
            self.recorder = RunRecorder(spec.run_dir)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def launch(self) -> None:
        spec = self.spec
        if spec.run_dir is not None:
            (spec.run_dir / wire.STOP_FILE_NAME).unlink(missing_ok=True)  # a stale STOP would end a resume at once
        self.process = subprocess.Popen(
            list(spec.argv), cwd=spec.cwd, env=self._environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, **platform_options())
        if spec.secret_stdin is not None:
            self._requests.put(spec.secret_stdin.strip() + "\n")  # first line, before any request
        threading.Thread(target=write_lines, args=(self._requests, self.process.stdin), daemon=True,
                         name=f"{self.id}-stdin").start()
        self._set_state("starting")
        self._publish(JobLaunched(name=spec.name, pid=self.process.pid,
                                  run_dir=str(spec.run_dir) if spec.run_dir else None))
        readers = [threading.Thread(target=self._read, args=(self.process.stdout, "stdout"), daemon=True,
                                    name=f"{self.id}-stdout"),
                   threading.Thread(target=self._read, args=(self.process.stderr, "stderr"), daemon=True,
                                    name=f"{self.id}-stderr")]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait, args=(readers,), daemon=True, name=f"{self.id}-waiter").start()

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in SECRET_ENV}
        env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "1",
                    wire.ENV_CONTROL: "stdin", wire.ENV_PARENT_PID: str(os.getpid())})
        if self.spec.run_dir is not None:
            env[wire.ENV_STOP_FILE] = str(self.spec.run_dir / wire.STOP_FILE_NAME)
        env.update(self.spec.env)
        return env

    def _read(self, pipe, stream: str) -> None:
        for raw in iter(pipe.readline, b""):
            try:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                text = text.rsplit("\r", 1)[-1]  # a progress bar redraws with \r: keep what a terminal would show
                for event in wire.parse_line(text, stream):
                    self._handle(event)
            except Exception:  # keep reading whatever happens, or the worker blocks on a full pipe
                log.exception("job %s: handling a %s line failed", self.id, stream)
        pipe.close()

    def _handle(self, event: Event) -> None:
        if isinstance(event, (JobStateChanged, JobLaunched)):
            event = LogLine(text=wire.encode(event), stream="stdout")  # the runner's own events, not a worker's
        if isinstance(event, LogLine):
            with self._lock:
                self._tail.append(event.text)
        elif isinstance(event, ProgressReported):
            event = self._with_timing(event)
        elif isinstance(event, JobStarted):
            self._eta.plan(event.details.get("phases") or ())  # the phases after this one, for the run's ETA
            if self.state == "starting":
                self._set_state("running")
        elif isinstance(event, ENDING_EVENTS):
            with self._lock:
                if self.ending_event is not None:
                    return  # only one ending per job
                self.ending_event = event
            self._set_state("failed" if isinstance(event, JobFailed) else
                            event.status if event.status in ENDED_STATES else "finished")
        self._publish(event)

    def _set_state(self, state: str) -> None:
        with self._lock:
            previous = self.state
            if previous in ENDED_STATES or (previous == state and state != "starting"):
                return
            self.state = state
        self._publish(JobStateChanged(name=self.spec.name, state=state,
                                      previous="" if state == "starting" else previous))

    def _with_timing(self, event: ProgressReported) -> ProgressReported:
        eta, run_eta = (None, None) if event.is_phase else self._eta.observe(event.stage, event.step, event.total)
        elapsed = event.elapsed if event.elapsed is not None else self._clock() - self.started_at
        return replace(event, eta=event.eta if event.eta is not None else eta, elapsed=elapsed,
                       run_eta=event.run_eta if event.run_eta is not None else run_eta)

    def _wait(self, readers: list[threading.Thread]) -> None:
        code = self.process.wait()
        for reader in readers:
            reader.join()
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        with self._lock:
            ending = self.ending_event
            tail = list(self._tail)
        try:
            if ending is None:
                self._handle(self._ending_from_exit(code, tail))
            if self.spec.run_dir is not None:
                (self.spec.run_dir / wire.STOP_FILE_NAME).unlink(missing_ok=True)
            if self.recorder is not None:
                self.recorder.close()
        except Exception:
            log.exception("job %s: finishing the record failed", self.id)
        finally:
            self._requests.put(None)  # ends the stdin writer
            self._ended.set()

    def _ending_from_exit(self, code: int, tail: list[str]) -> Event:
        seconds = self._clock() - self.started_at
        if self.stop_requested and (code == 0 or self.forced):
            return JobFinished(status="stopped", seconds=seconds,
                               result={"forced": self.forced} if self.forced else {})
        if code == 0:
            return JobFinished(status="finished", seconds=seconds)
        message = f"the {self.spec.name} worker exited with code {code}"
        if code == wire.EXIT_ORPHANED:
            message += " (it lost contact with the app)"
        return JobFailed(message=message, advice=advice_for(tail, code), last_lines=tuple(tail[-FAILURE_LINES:]),
                         exit_code=code)

    def _publish(self, event: Event) -> None:
        event = replace(event, job_id=self.id)
        if self.recorder is not None:
            try:
                self.recorder.record(event)
            except Exception:  # a full disk or a bad event must not stop the job's reader threads
                log.exception("job %s: recording %s failed", self.id, type(event).__name__)
        try:
            self._publish_raw(event)
        except Exception:
            log.exception("job %s: publishing %s failed", self.id, type(event).__name__)

    # -- control ---------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and not self._ended.is_set()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the job has ended and its ending event is published; None on timeout."""
        if not self._ended.wait(timeout):
            return None
        return self.process.returncode

    def stop(self) -> None:
        """Cooperative stop, escalating to terminate and kill after the spec's grace periods. A job that has sent
        its ending has nothing left to stop (its process may still be exiting): no request, no log line."""
        if not self.running or self.stop_requested or self.ending_event is not None:
            return
        self.stop_requested = True
        self._set_state("stopping")
        self._publish(LogLine(text="stop requested: the worker saves at its next step boundary", stream="runner"))
        if self.spec.run_dir is not None:
            try:
                (self.spec.run_dir / wire.STOP_FILE_NAME).touch()
            except OSError:
                pass
        self.send_request(StopJob(job_id=self.id))
        threading.Thread(target=self._escalate, daemon=True, name=f"{self.id}-escalate").start()

    def send_request(self, request: Request) -> None:
        """Send ``request`` to the worker (``link().on_request`` handlers see it); returns at once."""
        if self.running:
            self._requests.put(wire.encode_request(request) + "\n")

    def _escalate(self) -> None:
        if self._ended.wait(self.spec.stop_grace):
            return
        self.forced = "terminated"
        self._publish(LogLine(text=f"no stop after {self.spec.stop_grace:g}s: terminating", stream="runner"))
        try:
            self.process.terminate()
        except OSError:
            pass
        if not self._ended.wait(self.spec.terminate_grace):
            self.kill()

    def kill(self) -> None:
        """End the worker and its children now."""
        if not self.running:
            return
        self.forced = "killed"
        kill_tree(self.process.pid)


class JobRunner:
    """Starts jobs and routes requests (``StopJob``, ``KillJob``, any other request) to them; events go to ``bus``."""

    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, spec: JobSpec, job_id: str | None = None) -> Job:
        """Launch ``spec``. Pass ``job_id`` (from ``new_job_id``) to subscribe to the job before its first event."""
        job = Job(spec, self.bus.publish, self._clock, job_id)
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"job id {job.id} is already in use")
            self._jobs[job.id] = job
        job.launch()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def handle(self, request: Request) -> None:
        job = self.get(request.job_id)
        if job is None:
            return
        if isinstance(request, StopJob):
            job.stop()
        elif isinstance(request, KillJob):
            job.kill()
        else:
            job.send_request(request)

    def shutdown(self, jobs: Iterable[Job] | None = None, timeout: float = 30.0) -> threading.Thread:
        """Stop every running job (the app is closing): cooperative stop, then kill what is left after ``timeout``.

        Returns at once (the stop requests are queued, not written, on this thread); the waiting and killing run on
        the returned thread, which a caller with nothing else to do (the CLI) may join."""
        targets = [job for job in (jobs if jobs is not None else self.jobs()) if job.running]
        thread = threading.Thread(target=self._shut_down, args=(targets, timeout), daemon=True,
                                  name="dps-runner-shutdown")
        thread.start()
        return thread

    def _shut_down(self, targets: list[Job], timeout: float) -> None:
        for job in targets:
            job.stop()
        deadline = self._clock() + timeout
        for job in targets:
            if job.wait(max(0.0, deadline - self._clock())) is None:
                job.kill()
                job.wait(SHUTDOWN_KILL_WAIT)
