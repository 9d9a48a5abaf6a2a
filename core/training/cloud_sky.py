"""The SkyPilot commands a cloud run uses, as argv lists, and what their output says. SkyPilot itself is never
imported by the app: ``sky`` (``pip install -r requirements-cloud.txt``) runs as a program, like any worker.

The pinned SkyPilot (0.14) has no ``sky rsync``: files come back over the SSH alias that ``sky launch`` writes for
the cluster (``ssh NAME`` works afterwards), with rsync, or scp where rsync is missing (Windows' OpenSSH has scp).
Every command runs in ``RUN/cloud/`` (the task's relative paths are relative to it).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from core.training.cloud_task import REMOTE_RUN, TASK_FILE, CloudOptions, hand_launch_argv

REMOTE_HOME_RUN = REMOTE_RUN[2:]  # "dps-run": for ssh/rsync/scp, a relative remote path starts in the home folder
JOB_ID = re.compile(r"\bJob (?:submitted, )?ID: ?(\d+)", re.IGNORECASE)
ENDED_JOB_STATES = ("SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED")
LIVE_JOB_STATES = ("INIT", "PENDING", "SETTING_UP", "RUNNING")
INSTALL_COMMANDS = ("pip install -r requirements-cloud.txt", "sky check")


def find_sky() -> str | None:
    """The ``sky`` program on PATH (sky.exe / sky.cmd on Windows), or None."""
    return shutil.which("sky")


def find_copier() -> str | None:
    """rsync where there is one (Windows: scp first, its rsync ports do not take C:\\ paths), else scp."""
    names = ("scp", "rsync") if os.name == "nt" else ("rsync", "scp")
    return next((found for found in map(shutil.which, names) if found), None)


def launch_argv(sky: str, cluster: str, options: CloudOptions) -> list[str]:
    """Provision, set up and submit the job, then return (the job runs on); the cluster tears itself down
    ``idle_minutes`` after its last job if nobody else does (autostop with --down)."""
    return [sky, "launch", "-c", cluster, TASK_FILE, "-y", "-i", str(options.idle_minutes), "--down",
            "--detach-run"]


def logs_argv(sky: str, cluster: str, job_id: int) -> list[str]:
    """The job's whole log (``--tail 0``: SkyPilot shows only the last 1000 lines otherwise), then follow it."""
    return [sky, "logs", cluster, str(job_id), "--follow", "--tail", "0"]


def queue_argv(sky: str, cluster: str) -> list[str]:
    return [sky, "queue", cluster]


def stop_argv(sky: str, cluster: str) -> list[str]:
    """Ask the remote worker to stop at its next step boundary: the STOP file its run line names (it saves a
    checkpoint first, as a local run does). A job of its own: it needs no GPU, so it runs beside the training."""
    return [sky, "exec", cluster, "-d", f"touch {REMOTE_RUN}/STOP"]


def down_argv(sky: str, cluster: str) -> list[str]:
    return [sky, "down", cluster, "-y"]


def download_argv(copier: str, cluster: str, name: str, run_dir: Path) -> list[str]:
    """Copy the remote run folder's ``name`` (adapter, checkpoints) into the local run folder."""
    source = f"{cluster}:{REMOTE_HOME_RUN}/{name}"
    if Path(copier).stem.lower() == "scp":
        return [copier, "-r", "-q", source, str(run_dir)]
    return [copier, "-a", source, str(run_dir) + "/"]


def job_id_from(text: str) -> int | None:
    """The job id ``sky launch`` reports ("Job submitted, ID: 1"), the last one when it says several."""
    found = JOB_ID.findall(text)
    return int(found[-1]) if found else None


def job_state_from(queue_text: str, job_id: int) -> str | None:
    """The state of job ``job_id`` in ``sky queue`` output (a table: the id first, a state word further on)."""
    for line in queue_text.splitlines():
        cells = line.split()
        if cells and cells[0] == str(job_id):
            return next((cell for cell in cells if cell in ENDED_JOB_STATES + LIVE_JOB_STATES), None)
    return None


def install_message(task: Path, run_dir: Path, options: CloudOptions) -> str:
    """What to do without SkyPilot: the install, the check, and the launch by hand (the task file stays)."""
    cluster = hand_launch_argv(run_dir, options)[3]
    return (f"SkyPilot is not installed, so nothing was launched. The task is written: {task}\n"
            f"To train in the cloud: {INSTALL_COMMANDS[0]}  (in this app's environment), then `{INSTALL_COMMANDS[1]}` "
            f"to enable a cloud, then start a new cloud run; or launch this task by hand from {task.parent}:\n"
            f"  {' '.join(hand_launch_argv(run_dir, options))}\n"
            f"  then fetch the results: rsync -a {cluster}:{REMOTE_HOME_RUN}/adapter {cluster}:{REMOTE_HOME_RUN}/"
            f"checkpoints {run_dir}/ ; and: sky down {cluster}")
