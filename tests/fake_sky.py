"""A stand-in for SkyPilot's ``sky`` and for rsync/scp over its SSH alias, put first on PATH by the cloud tests.

``install(bin_dir, state_dir)`` writes ``sky``, ``rsync`` and ``scp`` wrappers (POSIX shell scripts; Windows would
need .cmd ones) that run this file with this interpreter. Every call is recorded in ``STATE/calls.jsonl``. A
"cluster" is a folder, ``STATE/clusters/NAME/home``, standing for the remote home folder.

- ``sky launch -c NAME task.yaml ...`` reads the task with PyYAML, copies the workdir to ``home/sky_workdir`` and
  the file mounts to their targets (a file is linked), links ``home/dps-venv`` to this interpreter's environment
  (the setup's pip installs are skipped), then starts the task's real ``run`` script with bash, HOME=home, in the
  workdir, its output to the job's log: the real train worker, numbered by the real cloud-stamp. With
  FAKE_SKY_REPLAY=FILE it runs nothing and the job's log is FILE (a recorded run; the job counts as running until
  a reading of the log reaches its end), the files its checkpoint and adapter events name are made in home.
  FAKE_SKY_LAUNCH_FAILS=1 makes launch fail.
- ``sky logs NAME JOB --follow --tail 0`` prints the job's log from its start, each line decorated as SkyPilot's
  Ray-based log is (colour codes, ``(dps-train, pid=N)``), following it until the job ends. FAKE_SKY_DROP_AFTER=K
  makes the first FAKE_SKY_DROPS (default 1) calls die after K lines with exit 255, as a lost SSH connection does.
- ``sky exec NAME -d CMD`` runs CMD with bash in home (the stop request's ``touch ~/dps-run/STOP``).
- ``sky queue NAME`` prints a job table; ``sky down NAME -y`` marks the cluster down; ``sky check`` says enabled.
- ``rsync -a NAME:dps-run/X DEST/`` and ``scp -r -q NAME:dps-run/X DEST`` copy from home into DEST.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DECORATION = "\x1b[36m(dps-train, pid=4242)\x1b[0m "


def install(bin_dir: Path, state_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("sky", "rsync", "scp"):
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nFAKE_SKY_HOME="{state_dir}" exec "{sys.executable}" "{Path(__file__).resolve()}" '
                        f'{tool} "$@"\n', encoding="utf-8")
        path.chmod(0o755)


def state() -> Path:
    return Path(os.environ["FAKE_SKY_HOME"])


def cluster(name: str) -> Path:
    return state() / "clusters" / name


def record(tool: str, args: list[str]) -> None:
    with (state() / "calls.jsonl").open("a", encoding="utf-8") as calls:
        calls.write(json.dumps({"tool": tool, "argv": args, "cwd": os.getcwd()}) + "\n")


def remote(home: Path, target: str) -> Path:
    return home / target[2:] if target.startswith("~/") else Path(target)


def launch(args: list[str]) -> int:
    import yaml
    name = args[args.index("-c") + 1]
    task = yaml.safe_load(Path(next(arg for arg in args if arg.endswith(".yaml"))).read_text(encoding="utf-8"))
    print(f"Considered resources (1 node): {task['resources']} (the stand-in)", flush=True)
    if os.environ.get("FAKE_SKY_LAUNCH_FAILS"):
        print("sky.exceptions.ResourcesUnavailableError: no capacity (the stand-in)", flush=True)
        return 1
    home = cluster(name) / "home"
    shutil.copytree(task["workdir"], home / "sky_workdir", dirs_exist_ok=True)
    for target, source in task["file_mounts"].items():
        destination = remote(home, target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if Path(source).is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        elif not destination.exists():
            destination.symlink_to(Path(source).resolve())
    if not (home / "dps-venv").exists():
        (home / "dps-venv").symlink_to(sys.prefix, target_is_directory=True)
    print("Running setup on 1 node (the stand-in skips the pip installs)", flush=True)
    jobs = cluster(name) / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    replay = os.environ.get("FAKE_SKY_REPLAY")
    if replay:
        shutil.copy(replay, jobs / "1.log")  # the job runs until a reading of its log reaches the end
        make_outputs(jobs / "1.log", home)
    else:
        # a remote machine's environment: nothing of this one's (the runner's DPS_* variables least of all)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home),
               **{key: str(value) for key, value in task.get("envs", {}).items()},
               "FAKE_SKY_RUN": task["run"], "FAKE_SKY_RC": str(jobs / "1.rc")}
        with (jobs / "1.log").open("wb") as log:
            subprocess.Popen(["bash", "-c", 'bash -c "$FAKE_SKY_RUN"; echo $? > "$FAKE_SKY_RC"'],
                             cwd=home / "sky_workdir", env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    print("Job submitted, ID: 1", flush=True)
    return 0


def make_outputs(log: Path, home: Path) -> None:
    """For a replayed run: the checkpoint folders and the adapter its events name, with small stand-in files."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if '"event":"checkpoint"' in line:
            step = json.loads(line.split("@@dps-event@@ ", 1)[1])["step"]
            folder = home / "dps-run" / "checkpoints" / f"checkpoint-{step}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")
        elif '"event":"finished"' in line and '"status":"finished"' in line:
            (home / "dps-run" / "adapter").mkdir(parents=True, exist_ok=True)
            (home / "dps-run" / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")


def logs(args: list[str]) -> int:
    name, job = args[0], args[1]
    jobs = cluster(name) / "jobs"
    calls_file = state() / "logs_calls"
    calls = int(calls_file.read_text()) + 1 if calls_file.exists() else 1
    calls_file.write_text(str(calls))
    drops = int(os.environ.get("FAKE_SKY_DROPS", "1"))
    drop_after = int(os.environ.get("FAKE_SKY_DROP_AFTER", "0")) if calls <= drops else 0
    printed, position = 0, 0
    while True:
        done = (jobs / f"{job}.rc").exists()
        with (jobs / f"{job}.log").open("rb") as log:
            log.seek(position)
            data = log.read()
        complete = data[:data.rfind(b"\n") + 1]
        position += len(complete)
        for raw in complete.decode("utf-8", errors="replace").split("\n")[:-1]:  # \r stays inside a line
            print(DECORATION + raw, flush=True)
            printed += 1
            if drop_after and printed >= drop_after:
                print("Connection to 10.0.0.1 closed by remote host.", file=sys.stderr, flush=True)
                return 255
        if os.environ.get("FAKE_SKY_REPLAY") and not complete:
            (jobs / f"{job}.rc").write_text("0", encoding="utf-8")  # a replayed job ends once read to its end
            done = True
        if done and not complete:
            code = (jobs / f"{job}.rc").read_text().strip()
            print(f"Job finished (status: {'SUCCEEDED' if code == '0' else 'FAILED'}).", flush=True)
            return 0 if code == "0" else 100
        if "--no-follow" in args:
            return 0
        time.sleep(0.05)


def queue(args: list[str]) -> int:
    jobs = cluster(args[0]) / "jobs"
    print(f"Job queue of current user on cluster {args[0]}")
    print("ID  NAME       USER  SUBMITTED  STARTED  DURATION  RESOURCES  STATUS     LOG")
    for log in sorted(jobs.glob("*.log")):
        rc = jobs / f"{log.stem}.rc"
        status = "RUNNING" if not rc.exists() else "SUCCEEDED" if rc.read_text().strip() == "0" else "FAILED"
        print(f"{log.stem}   dps-train  me    1 min ago  1 min    1m        1x[A10G:1]  {status}  ~/sky_logs/x")
    return 0


def execute(args: list[str]) -> int:
    name, command = args[0], args[-1]
    home = cluster(name) / "home"
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run(["bash", "-c", command], cwd=home, env=environment).returncode


def copy(args: list[str]) -> int:
    source, destination = args[-2], Path(args[-1])
    name, path = source.split(":", 1)
    origin = cluster(name) / "home" / path
    if not origin.exists():
        print(f"rsync: link_stat \"{path}\" failed: No such file or directory (2)", file=sys.stderr)
        return 23
    shutil.copytree(origin, destination / origin.name, dirs_exist_ok=True)
    return 0


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    record(tool, args)
    if tool in ("rsync", "scp"):
        return copy(args)
    command, rest = args[0], args[1:]
    if command == "down":
        (cluster(rest[0]) / "DOWN").parent.mkdir(parents=True, exist_ok=True)
        (cluster(rest[0]) / "DOWN").write_text("down", encoding="utf-8")
        print(f"Terminating cluster {rest[0]}...done.")
        return 0
    if command == "check":
        print("Checking credentials to enable clouds for SkyPilot.\n  AWS: enabled [compute, storage]")
        return 0
    handler = {"launch": launch, "logs": logs, "queue": queue, "exec": execute}.get(command)
    if handler is None:
        print(f"the stand-in sky does not know {command!r}", file=sys.stderr)
        return 2
    return handler(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
