"""The job runner: starts workers as subprocesses, turns their output into events, stops them.

One runner serves the CLI, the GUI and the tray. A job is an argv list (never a shell), run with unbuffered UTF-8
pipes; two reader threads parse stdout/stderr with ``core.jobs.wire`` and publish events on the bus, a waiter thread
publishes the ending event. Jobs with a run folder are recorded there (``core.jobs.runs.RunRecorder``) as events arrive,
so the log and metrics survive the app. Stop is cooperative first (a stop line on stdin plus the run's STOP file,
honoured at the worker's next step boundary), then terminate, then kill (the whole process tree), each after its
grace period. The worker watches its stdin and our pid and exits when we die (see ``core.jobs.wire``).
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from core.jobs import wire
from core.jobs.advice import advice_for
from core.jobs.bus import EventBus
from core.jobs.events import (ENDING_EVENTS, Event, JobFailed, JobFinished, JobLaunched, KillJob, LogLine,
                         ProgressReported, StopJob)
from core.jobs.eta import EtaEstimator
from core.config.resources import PROJECT_ROOT

TAIL_LINES = 40           # log lines kept in memory for a failure report
FAILURE_LINES = 20        # of those, how many a JobFailed carries
SECRET_ENV = ("DPS_BOT_TOKEN",)  # workers never need the bot token; keep it out of their environment


@dataclass(frozen=True)
class JobSpec:
    name: str                          # short kind ("train", "export"), shown in the GUI and job ids
    argv: tuple[str, ...]              # the full command line, executable first
    run_dir: Path | None = None        # the run folder: STOP file, run.log, metrics.jsonl, state.json
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the worker
    stop_grace: float = 120.0          # a training step plus a checkpoint save on a slow machine
    terminate_grace: float = 10.0      # after terminate, before kill


def worker_argv(name: str, *args: str) -> tuple[str, ...]:
    """The command line that runs worker ``name``: this interpreter + launcher.py, or the frozen executable."""
    if getattr(sys, "frozen", False):
        return (sys.executable, "--worker", name, *args)
    return (sys.executable, str(PROJECT_ROOT / "launcher.py"), "--worker", name, *args)


class Job:
    """One running (or ended) worker process. Created by ``JobRunner.start``."""

    def __init__(self, spec: JobSpec, publish: Callable[[Event], None], clock: Callable[[], float]) -> None:
        self.id = f"{spec.name}-{uuid.uuid4().hex[:8]}"
        self.spec = spec
        self._publish_raw = publish
        self._clock = clock
        self._eta = EtaEstimator(clock)
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self.ending_event: Event | None = None
        self.stop_requested = False
        self.forced: str = ""          # "terminated" or "killed" when we had to end it
        self.process: subprocess.Popen | None = None
        self.started_at = clock()
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
            stderr=subprocess.PIPE, **_platform_options())
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
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            text = text.rsplit("\r", 1)[-1]  # a progress bar redraws with \r: keep what a terminal would show
            for event in wire.parse_line(text, stream):
                self._handle(event)
        pipe.close()

    def _handle(self, event: Event) -> None:
        if isinstance(event, LogLine):
            with self._lock:
                self._tail.append(event.text)
        elif isinstance(event, ProgressReported):
            event = self._with_timing(event)
        elif isinstance(event, ENDING_EVENTS):
            with self._lock:
                if self.ending_event is not None:
                    return  # only one ending per job
                self.ending_event = event
        self._publish(event)

    def _with_timing(self, event: ProgressReported) -> ProgressReported:
        eta = None if event.is_phase else self._eta.observe(event.step, event.total)
        elapsed = event.elapsed if event.elapsed is not None else self._clock() - self.started_at
        return replace(event, eta=event.eta if event.eta is not None else eta, elapsed=elapsed)

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
        if ending is None:
            self._handle(self._ending_from_exit(code, tail))
        if self.spec.run_dir is not None:
            (self.spec.run_dir / wire.STOP_FILE_NAME).unlink(missing_ok=True)
        if self.recorder is not None:
            self.recorder.close()
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
            self.recorder.record(event)
        self._publish_raw(event)

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
        """Cooperative stop, escalating to terminate and kill after the spec's grace periods."""
        if not self.running or self.stop_requested:
            return
        self.stop_requested = True
        self._publish(LogLine(text="stop requested: the worker saves at its next step boundary", stream="runner"))
        if self.spec.run_dir is not None:
            try:
                (self.spec.run_dir / wire.STOP_FILE_NAME).touch()
            except OSError:
                pass
        try:
            self.process.stdin.write((wire.STOP_LINE + "\n").encode())
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass  # it is already going away
        threading.Thread(target=self._escalate, daemon=True, name=f"{self.id}-escalate").start()

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


def kill_tree(pid: int) -> None:
    import psutil
    try:
        parent = psutil.Process(pid)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for process in [*children, parent]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _platform_options() -> dict:
    """Keep a worker out of the terminal's Ctrl+C (the runner stops it cooperatively) and, on Windows, without a
    console window of its own."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


class JobRunner:
    """Starts jobs and routes requests (``StopJob``, ``KillJob``) to them; all events go to ``bus``."""

    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, spec: JobSpec) -> Job:
        job = Job(spec, self.bus.publish, self._clock)
        with self._lock:
            self._jobs[job.id] = job
        job.launch()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def handle(self, request: Event) -> None:
        job = self.get(request.job_id)
        if job is None:
            return
        if isinstance(request, StopJob):
            job.stop()
        elif isinstance(request, KillJob):
            job.kill()

    def shutdown(self, jobs: Iterable[Job] | None = None, timeout: float = 30.0) -> None:
        """Stop every running job (the app is closing): cooperative stop, then kill what is left after ``timeout``."""
        targets = [job for job in (jobs if jobs is not None else self.jobs()) if job.running]
        for job in targets:
            job.stop()
        deadline = self._clock() + timeout
        for job in targets:
            if job.wait(max(0.0, deadline - self._clock())) is None:
                job.kill()
                job.wait(10.0)
