"""The cloud run's pure parts: who leaves the machine, the SkyPilot task (parsed and validated by SkyPilot's own
``sky.Task.from_yaml`` in a separate environment), the sky command lines and what their output says, and reading
numbered remote lines back without duplicates."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from core.jobs import runs
from core.jobs.events import CheckpointSaved, JobFinished, LogLine, ProgressReported
from core.jobs.wire import encode
from core.training import cloud_sky
from core.training.cloud_stream import LogCursor, local_event, stamp, unstamp, worker_events
from core.training.cloud_task import (CloudOptions, CloudTaskError, cluster_name, task_path, to_yaml,
                                      write_task)

ROOT = Path(__file__).resolve().parents[1]
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.ClOuDt.cloudtasktestsecretvalue0123456"


def example(persona_id: str, name: str, *user_contents: str, target: str = "ok") -> dict:
    messages = [{"role": "system", "content": f'You are {name}, chatting in a channel named "general" on a server '
                                              f'named "Test".'}]
    for content in user_contents:
        messages += [{"role": "user", "content": content}, {"role": "assistant", "content": "hm"}]
    messages[-1] = {"role": "assistant", "content": target}
    return {"messages": messages, "meta": {"persona_id": persona_id, "message_id": "1"}}


def write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train = [example("101", "Ann", "Cy: hello\nBob: hi there", target="hey: all"),
             example("102", "Bob", "Ann: morning\nDee: two lines\nnote: the second reads like a label")]
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train), encoding="utf-8")
    (folder / "val.jsonl").write_text(json.dumps(example("101", "Ann", "Cy: again")) + "\n", encoding="utf-8")
    dpo = {"prompt": example("103", "Fay", "Gus: a question")["messages"], "chosen": "a", "rejected": "b",
           "meta": {"persona_id": "103"}}
    (folder / "dpo.jsonl").write_text(json.dumps(dpo) + "\n", encoding="utf-8")
    (folder / "test.jsonl").write_text(json.dumps(example("101", "Ann", "Eve: stays here")) + "\n", encoding="utf-8")
    (folder / "stats.json").write_text("{}", encoding="utf-8")
    return folder


def planned_run(tmp_path: Path, base: dict | None = None) -> Path:
    data = write_dataset(tmp_path / "data")
    model = tmp_path / "models" / "tiny.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    snapshot = {"kind": "train", "preset": "vram-24gb", "training": {"max_steps": 3}, "data_dir": str(data),
                "base_model": base or {"source": str(model), "kind": "gguf"}, "backend": "auto",
                "database": str(tmp_path / "ws" / "studio.db"), "cloud": CloudOptions().to_json()}
    return runs.create_run(tmp_path / "runs", snapshot)


def test_the_task_carries_the_dataset_config_source_setup_and_run_and_no_secret(tmp_path, monkeypatch):
    from core.config.secrets import set_token
    monkeypatch.setenv("DPS_BOT_TOKEN", SECRET)
    set_token(SECRET)
    run_dir = planned_run(tmp_path)
    task_file = write_task(run_dir, CloudOptions(accelerator="L4:1", infra="gcp", use_spot=True), ROOT)
    task = yaml.safe_load(task_file.read_text(encoding="utf-8"))
    assert task["resources"] == {"accelerators": "L4:1", "infra": "gcp", "use_spot": True}
    folder = task_file.parent
    assert sorted(path.name for path in (folder / task["workdir"]).iterdir()) == sorted(
        ["core", "model", "storage", "launcher.py", "install.py", "requirements.txt", "requirements-ml.txt",
         "requirements-cuda.txt", "requirements-worker.txt"])
    assert not list((folder / "source").rglob("__pycache__"))
    assert sorted(path.name for path in (folder / task["file_mounts"]["~/dps-data"]).iterdir()) == [
        "dpo.jsonl", "train.jsonl", "val.jsonl"]  # test.jsonl, stats and preview stay
    assert task["file_mounts"]["~/dps-base/tiny.gguf"] == str((tmp_path / "models" / "tiny.gguf").resolve())
    remote = json.loads((folder / task["file_mounts"]["~/dps-run"] / "config.json").read_text(encoding="utf-8"))
    assert remote["data_dir"] == "../dps-data" and remote["base_model"]["source"] == "../dps-base/tiny.gguf"
    assert "database" not in remote and "cloud" not in remote
    assert str(tmp_path) not in json.dumps(remote)  # no local path leaves in the config
    worker_requirements = (folder / "source" / "requirements-worker.txt").read_text(encoding="utf-8")
    assert "unsloth==" in worker_requirements and "transformers==5.17.0" in worker_requirements  # the CUDA pins
    assert "transformers==5.23.0" not in worker_requirements and "torch==" in worker_requirements
    assert "requirements-worker.txt" in task["setup"]
    assert "launcher.py --worker train --run-dir ../dps-run" in task["run"]
    assert "--worker cloud-stamp" in task["run"] and "DPS_STOP_FILE" in task["run"]
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path


def test_a_hub_model_stays_a_hub_id_and_bad_options_are_refused(tmp_path):
    run_dir = planned_run(tmp_path, base={"source": "HuggingFaceTB/SmolLM2-135M-Instruct", "kind": "hub"})
    task = yaml.safe_load(write_task(run_dir, CloudOptions(), ROOT).read_text(encoding="utf-8"))
    assert set(task["file_mounts"]) == {"~/dps-data", "~/dps-run"}
    with pytest.raises(CloudTaskError):
        write_task(run_dir, CloudOptions(accelerator="A10G: 1"), ROOT)
    assert cluster_name(run_dir).startswith("dps-") and "train" not in cluster_name(run_dir)


def test_to_yaml_quotes_every_scalar_and_keeps_scripts_as_blocks():
    data = {"a": "yes", "b": "# not a comment", "n": 3, "flag": True, "nested": {"~/x": "y: z"},
            "script": "set -e\n\necho 'hi'\n"}
    assert yaml.safe_load(to_yaml(data)) == data


def sky_python() -> str | None:
    """A Python with SkyPilot: $DPS_SKY_PYTHON (.ci/run sets it), the checkout's .venv-cloud, or /tmp/skyenv."""
    for candidate in (os.environ.get("DPS_SKY_PYTHON"), ROOT / ".venv-cloud" / "bin" / "python",
                      "/tmp/skyenv/bin/python"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def test_the_task_parses_and_validates_with_skypilots_own_task_loader(tmp_path):
    python = sky_python()
    if python is None:
        if os.environ.get("DPS_SKY_PYTHON"):
            pytest.fail(f"DPS_SKY_PYTHON={os.environ['DPS_SKY_PYTHON']} does not exist")
        pytest.skip("SkyPilot is not installed: python -m venv .venv-cloud && .venv-cloud/bin/pip install -r "
                    "requirements-cloud.txt (.ci/run does)")
    run_dir = planned_run(tmp_path)
    write_task(run_dir, CloudOptions(accelerator="A10G:1", infra="aws", disk_size=120), ROOT)
    # Everything but the resources' catalog check, which downloads SkyPilot's price lists from the internet
    probe = ("import json, sky\n"
             "task = sky.Task.from_yaml('task.yaml')\n"
             "task.validate_name(); task.validate_run(); task.expand_and_validate_workdir()\n"
             "task.expand_and_validate_file_mounts()\n"
             "(resources,) = task.resources\n"
             "print(json.dumps({'accelerators': resources.accelerators, 'disk': resources.disk_size,\n"
             "                  'cloud': str(resources.cloud), 'workdir': task.workdir, 'mounts': task.file_mounts,\n"
             "                  'run': task.run, 'envs': task.envs}))\n")
    done = subprocess.run([python, "-c", probe], cwd=task_path(run_dir).parent, capture_output=True, text=True,
                          env={**os.environ, "HOME": str(tmp_path / "home")}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    task = json.loads(done.stdout.strip().splitlines()[-1])
    assert task["accelerators"] == {"A10G": 1} and task["disk"] == 120 and task["cloud"].lower() == "aws"
    assert task["workdir"] == str(task_path(run_dir).parent / "source")
    assert task["mounts"]["~/dps-data"] == str(task_path(run_dir).parent / "data")
    assert "launcher.py --worker train" in task["run"] and task["envs"]["PYTHONUNBUFFERED"] == "1"


def test_sky_command_lines_and_what_their_output_says(tmp_path):
    options = CloudOptions(idle_minutes=15)
    assert cloud_sky.launch_argv("sky", "dps-x", options) == [
        "sky", "launch", "-c", "dps-x", "task.yaml", "-y", "-i", "15", "--down", "--detach-run"]
    assert cloud_sky.logs_argv("sky", "dps-x", 3) == ["sky", "logs", "dps-x", "3", "--follow", "--tail", "0"]
    assert cloud_sky.stop_argv("sky", "dps-x") == ["sky", "exec", "dps-x", "-d", "touch ~/dps-run/STOP"]
    assert cloud_sky.down_argv("sky", "dps-x") == ["sky", "down", "dps-x", "-y"]
    assert cloud_sky.download_argv("/usr/bin/rsync", "dps-x", "adapter", tmp_path) == [
        "/usr/bin/rsync", "-a", "dps-x:dps-run/adapter", f"{tmp_path}/"]
    assert cloud_sky.download_argv("C:/Windows/System32/OpenSSH/scp.exe", "dps-x", "adapter", tmp_path)[:3] == [
        "C:/Windows/System32/OpenSSH/scp.exe", "-r", "-q"]
    launched = "Considered resources...\n\x1b[1mJob submitted, ID: 4\x1b[0m\n📋 Useful Commands\nJob ID: 4\n"
    assert cloud_sky.job_id_from(launched) == 4 and cloud_sky.job_id_from("no id here") is None
    queue = ("Job queue of current user on cluster dps-x\nID  NAME  USER  SUBMITTED  STARTED  DURATION  RESOURCES  "
             "STATUS  LOG\n2  sky-cmd  me  1 min ago  -  -  1x[CPU:0.5]  SUCCEEDED  ~/x\n"
             "1  dps-train  me  9 mins ago  9 mins ago  9m  1x[A10G:1]  RUNNING  ~/y\n")
    assert cloud_sky.job_state_from(queue, 1) == "RUNNING" and cloud_sky.job_state_from(queue, 2) == "SUCCEEDED"
    assert cloud_sky.job_state_from(queue, 7) is None


def test_numbered_remote_lines_are_found_in_skypilots_decoration_and_taken_once(tmp_path):
    progress = ProgressReported(step=2, total=3, loss=1.5)
    line = "\x1b[36m(dps-train, pid=77)\x1b[0m " + stamp(5, encode(progress))
    sequence, text = unstamp(line)
    assert sequence == 5 and worker_events(text) == [progress]
    assert unstamp("\x1b[1mJob finished (status: SUCCEEDED).\x1b[0m") == (None, "Job finished (status: SUCCEEDED).")
    assert unstamp(stamp(6, "loading 10%\rloading 100%")) == (6, "loading 100%")
    cursor = LogCursor()
    assert [cursor.take(n) for n in (None, 1, 2, 3)] == [True, True, True, True]
    cursor.new_reading()  # the stream dropped; the log is read again from its start
    assert [cursor.take(n) for n in (None, 1, 2, 3, None, 4, None)] == [False, False, False, False, False, True, True]
    assert cursor.last == 4


def test_remote_paths_in_events_point_into_the_local_run_folder(tmp_path):
    saved = local_event(CheckpointSaved(step=4, path="../dps-run/checkpoints/checkpoint-4"), tmp_path)
    assert saved.path == str(tmp_path / "checkpoints" / "checkpoint-4")
    finished = local_event(JobFinished(status="finished", result={"adapter": "/home/ubuntu/dps-run/adapter",
                                                                  "dpo": {"note": "see ../dps-run/adapter"}}),
                           tmp_path)
    assert finished.result == {"adapter": str(tmp_path / "adapter"), "dpo": {"note": f"see {tmp_path / 'adapter'}"}}
    assert local_event(LogLine(text="dps-runner is not a path"), tmp_path).text == "dps-runner is not a path"
