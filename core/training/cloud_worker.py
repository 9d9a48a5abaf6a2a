"""``launcher.py --worker cloud-train --run-dir RUN``: a training run on a rented GPU, seen by the app as a local one.

Started by the job runner like the train worker (``core.training.launch.cloud_training_job``), with the task already
written into ``RUN/cloud/`` (``core.training.cloud_task``). It launches the task with ``sky`` (autostop with --down),
reads the remote worker's numbered output from the job's log and re-emits its events (started, progress with loss
and VRAM, eval, checkpoint) and log lines as its own, so the runner records them in the same run folder and the panel
shows them as it shows a local run. A lost log stream is read again from its start: the line numbers
(``core.training.cloud_stream``) make every event arrive once. The remote ending is held back until the adapter and
checkpoints are downloaded and the cluster is torn down; then this worker ends the same way (finished, stopped or
failed), with where the files landed. A stop request (the runner's StopJob or STOP file) becomes the remote run's
STOP file: the remote worker saves a checkpoint at its next step boundary and ends, and the checkpoints still come
back. Progress of the run itself (last line read, job id) is kept in ``RUN/cloud/state.json``.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import threading
import time
from pathlib import Path

from core.jobs import runs, wire
from core.jobs.events import CheckpointSaved, Event, JobFailed, JobFinished, JobStarted, LogLine, ProgressReported
from core.training.cloud_process import capture, read_state, run_lines, write_state
from core.training.cloud_sky import (ENDED_JOB_STATES, down_argv, download_argv, find_copier, find_sky,
                                     install_message, job_id_from, job_state_from, launch_argv, logs_argv, queue_argv,
                                     stop_argv)
from core.training.cloud_stream import LogCursor, local_event, unstamp, worker_events
from core.training.cloud_task import CloudOptions, cloud_dir, cluster_name, task_path

RECONNECT_WAITS = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 60.0, 60.0)  # after each reading that brought nothing new
STATE_SAVE_SECONDS = 2.0
DOWNLOAD_TIMEOUT = 3600.0
DOWN_TIMEOUT = 900.0


class CloudRun:
    def __init__(self, run_dir: Path, sky: str, options: CloudOptions, link: wire.WorkerLink,
                 copier: str | None = None, sleep=time.sleep) -> None:
        self.run_dir, self.folder = Path(run_dir), cloud_dir(run_dir)
        self.sky, self.options, self.link, self.copier, self.sleep = sky, options, link, copier, sleep
        self.cluster = cluster_name(self.run_dir)
        self.state = read_state(self.folder)
        self.cursor = LogCursor(int(self.state.get("last_line") or 0))
        self.ending: Event | None = None
        self.checkpoints = bool(self.state.get("checkpoints"))
        self.stop_sent = False
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.started = time.monotonic()
        self._saved_at = 0.0

    # -- talking to the runner --------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        try:
            print(text, flush=True)
        except (OSError, ValueError):  # the app went away (the orphan grace is running): keep working
            pass

    def phase(self, message: str) -> None:
        self.link.emit(ProgressReported(step=0, message=message))

    def save_state(self, force: bool = False, **changes) -> None:
        self.state.update(changes, last_line=self.cursor.last, checkpoints=self.checkpoints)
        if force or changes or time.monotonic() - self._saved_at >= STATE_SAVE_SECONDS:
            write_state(self.folder, self.state)
            self._saved_at = time.monotonic()

    # -- the run ----------------------------------------------------------------------------------------------------
    def run(self) -> int:
        if self.state.get("job_id") is None and not self.launch():
            return self.end_unlaunched()
        ended = self.stream()
        downloaded = self.download()
        torn_down = self.teardown() if ended else False
        return self.finish(ended, downloaded, torn_down)

    def launch(self) -> bool:
        self.phase(f"launching {self.options.accelerator} in the cloud (provisioning and setup take minutes)")
        self.say(f"cloud: launching cluster {self.cluster} from {task_path(self.run_dir)}")
        output: list[str] = []

        def line(text: str) -> None:
            output.append(text)
            self.tail.append(text)
            self.say(f"sky | {text}")

        code = run_lines(launch_argv(self.sky, self.cluster, self.options), self.folder, line,
                         tick=self.link.stop_requested)
        if code != 0:
            self.state["launch_exit"] = code
            return False
        job_id = job_id_from("\n".join(output))
        if job_id is None:
            job_id = 1  # the first job of a fresh cluster; SkyPilot printed no id this time
            self.say("cloud: sky launch named no job id; following job 1, the first job of a new cluster")
        self.save_state(force=True, job_id=job_id, cluster=self.cluster)
        return True

    def end_unlaunched(self) -> int:
        stopped = self.link.stop_requested()
        torn_down = self.teardown()  # a cluster half made (or set up and failed) must not wait for anyone
        cloud = {"cluster": self.cluster, "torn_down": torn_down}
        if stopped:
            self.link.emit(JobFinished(status="stopped", result={"cloud": cloud}, seconds=self.seconds()))
            return 0
        self.link.emit(JobFailed(
            message=f"sky launch failed (exit {self.state.get('launch_exit')})", last_lines=tuple(self.tail),
            advice="run `sky check` to see which clouds are enabled, and check the accelerator and --infra "
                   f"(`sky gpus list {self.options.accelerator.split(':')[0]}`)" + self.down_note(torn_down),
            exit_code=1))
        return 1

    def stream(self) -> bool:
        """Follow the job's log until its ending arrives or the job has ended; False when contact was lost."""
        job_id, misses, ended_before = int(self.state["job_id"]), 0, False
        while self.ending is None:
            self.cursor.new_reading()
            before = self.cursor.last
            code = run_lines(logs_argv(self.sky, self.cluster, job_id), self.folder, self.on_log_line,
                             tick=self.on_tick)
            self.save_state(force=True)
            if self.ending is not None:
                break
            job_state = self.job_state(job_id)
            if job_state in ENDED_JOB_STATES:
                if ended_before and self.cursor.last == before:  # read to its end once more: nothing new
                    self.say(f"cloud: the remote job ended ({job_state}) without its final report")
                    return True
                ended_before = True  # its log is complete now: read what the lost stream did not show
                self.say(f"cloud: the log stream ended (exit {code}); the job is {job_state}: reading the rest")
                continue
            misses = 0 if self.cursor.last > before else misses + 1
            if misses >= len(RECONNECT_WAITS):
                self.say(f"cloud: lost contact with the run ({len(RECONNECT_WAITS)} readings brought nothing)")
                return False
            wait = RECONNECT_WAITS[max(misses - 1, 0)]
            self.say(f"cloud: the log stream ended (exit {code}, job {job_state or 'unknown'}); "
                     f"reading it again in {wait:g}s from line {self.cursor.last + 1}")
            self.wait(wait)
        return True

    def on_log_line(self, raw: str) -> None:
        sequence, text = unstamp(raw)
        if not self.cursor.take(sequence):
            return
        if sequence is None:
            if text.strip():
                self.say(f"sky | {text}")
            return
        self.tail.append(text)
        for event in worker_events(text):
            if isinstance(event, LogLine):
                self.say(event.text)
                continue
            event = local_event(event, self.run_dir)
            if isinstance(event, (JobFinished, JobFailed)):
                self.ending = event
                continue
            if isinstance(event, CheckpointSaved):
                self.checkpoints = True
            if isinstance(event, JobStarted):
                event = dataclasses.replace(event, details={**event.details, "cloud": self.cloud_details()})
            self.link.emit(event)
        self.save_state()

    def on_tick(self) -> bool:
        if self.link.stop_requested() and not self.stop_sent:
            self.stop_sent = True
            self.say("cloud: stop requested: the remote worker saves a checkpoint at its next step boundary")
            threading.Thread(target=self.send_stop, daemon=True, name="cloud-stop").start()
        self.save_state()
        return False  # never cut the stream short: the remote ending (and its checkpoint) is still to come

    def send_stop(self) -> None:
        code, output = capture(stop_argv(self.sky, self.cluster), self.folder)
        if code != 0:
            self.say(f"cloud: the stop request failed (exit {code}): {output.strip()[-300:]}")

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.on_tick()
            self.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def job_state(self, job_id: int) -> str | None:
        code, output = capture(queue_argv(self.sky, self.cluster), self.folder)
        return job_state_from(output, job_id) if code == 0 else None

    # -- afterwards -------------------------------------------------------------------------------------------------
    def wanted(self) -> list[str]:
        names = ["checkpoints"] if self.checkpoints else []
        if isinstance(self.ending, JobFinished) and self.ending.status == "finished":
            names.append("adapter")
        return names

    def download(self) -> dict[str, bool]:
        names = self.wanted()
        if not names:
            return {}
        if self.copier is None:
            self.say("cloud: neither rsync nor scp is on PATH: nothing can be downloaded")
            return {name: False for name in names}
        self.phase(f"downloading the {' and the '.join(names)} from {self.cluster}")
        done = {}
        for name in names:
            code, output = capture(download_argv(self.copier, self.cluster, name, self.run_dir), self.folder,
                                   timeout=DOWNLOAD_TIMEOUT)
            done[name] = code == 0 and (self.run_dir / name).exists()
            self.say(f"cloud: downloaded {name} into {self.run_dir / name}" if done[name] else
                     f"cloud: downloading {name} failed (exit {code}): {output.strip()[-300:]}")
        return done

    def teardown(self) -> bool:
        self.phase(f"tearing down {self.cluster}")
        code, output = capture(down_argv(self.sky, self.cluster), self.folder, timeout=DOWN_TIMEOUT)
        self.say(f"cloud: {self.cluster} is torn down" if code == 0 else
                 f"cloud: tearing down {self.cluster} failed (exit {code}): {output.strip()[-300:]}")
        self.save_state(force=True, torn_down=code == 0)
        return code == 0

    def finish(self, ended: bool, downloaded: dict[str, bool], torn_down: bool) -> int:
        cloud = {**self.cloud_details(), "job_id": self.state.get("job_id"), "torn_down": torn_down,
                 "downloaded": sorted(name for name, ok in downloaded.items() if ok)}
        missing = [name for name, ok in downloaded.items() if not ok]
        advice = self.fetch_note(missing) + self.down_note(torn_down)
        ending = self.ending
        if isinstance(ending, JobFinished) and not missing:
            if not torn_down:
                self.say("cloud: warning:" + self.down_note(torn_down))
            self.link.emit(JobFinished(status=ending.status, step=ending.step, seconds=self.seconds(),
                                       result={**ending.result, "cloud": cloud}))
            return 0
        if isinstance(ending, JobFinished):
            message = (f"the cloud run {ending.status} at step {ending.step}, but downloading "
                       f"{', '.join(missing)} failed")
        elif isinstance(ending, JobFailed):
            message, advice = f"on the cloud GPU: {ending.message}", (ending.advice + " " + advice).strip()
        elif ended:
            message = "the remote job ended without a final report (see the log for its last lines)"
        else:
            message = f"lost contact with the cloud run on {self.cluster}"
            advice = (f"it may still be running: `sky logs {self.cluster} {self.state.get('job_id')}`; " + advice)
        self.link.emit(JobFailed(message=message, advice=advice.strip(), last_lines=tuple(self.tail), exit_code=1))
        return 1

    def fetch_note(self, missing: list[str]) -> str:
        if not missing:
            return ""
        sources = " ".join(f"{self.cluster}:dps-run/{name}" for name in missing)
        return f" Fetch by hand: rsync -a {sources} {self.run_dir}/ (while the cluster is up)."

    def down_note(self, torn_down: bool) -> str:
        return "" if torn_down else (f" The cluster may still be up: `sky down {self.cluster}` (it tears itself "
                                     f"down {self.options.idle_minutes} minutes after its last job anyway).")

    def cloud_details(self) -> dict:
        return {"cluster": self.cluster, "accelerator": self.options.accelerator, "infra": self.options.infra}

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)


def options_of(run_dir: Path) -> CloudOptions:
    recorded = runs.read_config(run_dir).get("cloud") or {}
    fields = {field.name for field in dataclasses.fields(CloudOptions)}
    return CloudOptions(**{key: value for key, value in recorded.items() if key in fields})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="launcher.py --worker cloud-train")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run folder (cloud/task.yaml inside)")
    args = parser.parse_args(argv)
    link = wire.link()
    options = options_of(args.run_dir)
    sky = find_sky()
    if sky is None:
        message = install_message(task_path(args.run_dir), args.run_dir, options)
        print(message, flush=True)
        link.emit(JobFailed(message="SkyPilot is not installed (the task file is written)", exit_code=1,
                            advice=message.split("\n", 1)[1].replace("\n", " ")))
        return 1
    try:
        return CloudRun(args.run_dir, sky, options, link, copier=find_copier()).run()
    except Exception as exc:
        return wire.report_unexpected(link, exc, "the cloud run", f"if the cluster is up: sky down "
                                      f"{cluster_name(args.run_dir)}")
