"""``train --cloud`` end to end against a stand-in ``sky`` on PATH (tests/fake_sky.py): launch, the log streamed back
into the run folder (a lost connection mid-run resumes without a duplicate event), the download, the teardown; the
question before the upload; no ``sky`` at all. The fast tests replay a real worker's numbered output, recorded from
a real tiny run through the stand-in cluster (tests/fixtures/cloud/remote_worker.log: 3 SFT and 4 DPO steps of
SmolLM2-135M, recorded before the workers sent phase events, so it also checks that such output still reads); the
slow ones run today's real train worker inside the stand-in cluster, through the task's own run line, and stop one at
a step boundary."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from core.jobs import runs
from core.jobs.bus import EventBus
from core.jobs.events import CheckpointSaved, JobFailed, JobFinished, LogLine, ProgressReported
from core.jobs.runner import JobRunner, new_job_id
from tests import fake_sky
from tests.conftest import run_cli
from tests.tiny_run import OPTED_OUT_USER, SAMPLE_EXPORT

RECORDED = Path(__file__).resolve().parent / "fixtures" / "cloud" / "remote_worker.log"


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    """The stand-in sky (and rsync, scp) first on PATH; returns its state folder."""
    state = tmp_path / "sky-state"
    fake_sky.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return state


@pytest.fixture
def sample_workspace(workspace):
    """The sample server imported, one person opted out, a dataset prepared (as tests/tiny_run.py does)."""
    for argv in (("import", str(SAMPLE_EXPORT)), ("personas", "optout", OPTED_OUT_USER), ("prepare",)):
        code, _out, err = run_cli(*argv, workspace=workspace)
        assert code == 0, err[-2000:]
    return workspace


def calls(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text(encoding="utf-8").splitlines()]


def sky_calls(state: Path, command: str) -> list[list[str]]:
    return [call["argv"] for call in calls(state) if call["tool"] == "sky" and call["argv"][0] == command]


def recorded_events(kind) -> list:
    from core.training.cloud_stream import unstamp, worker_events
    found = []
    for line in RECORDED.read_text(encoding="utf-8").split("\n"):
        found += [event for event in worker_events(unstamp(line)[1]) if isinstance(event, kind)]
    return found


def test_a_cloud_run_streams_a_real_workers_output_once_across_a_lost_connection(sample_workspace, cloud,
                                                                                 monkeypatch):
    from core.dataset.leaving import people_leaving
    from core.dataset.writer import latest_dataset
    monkeypatch.setenv("FAKE_SKY_REPLAY", str(RECORDED))
    monkeypatch.setenv("FAKE_SKY_DROP_AFTER", "6")  # the first reading dies after 6 lines: SFT's last step
    code, out, err = run_cli("train", "--cloud", "--yes-upload", "--preset", "cpu-tiny", "--json",
                             workspace=sample_workspace)
    assert code == 0, err[-3000:]
    result = json.loads(out)
    run_dir = Path(result["run_dir"])
    assert result["status"] == "finished" and result["launched"] is True
    assert result["people_leaving"] == people_leaving(latest_dataset(sample_workspace.datasets_dir))
    assert isinstance(result["people_leaving"], int) and result["people_leaving"] > 1  # counted by prepare
    assert f"the messages of {result['people_leaving']} people" in err and "Yes (--yes-upload)" in err
    # each recorded step reached the run folder once, in order, though the log was read twice from its start
    logs = sky_calls(cloud, "logs")
    assert len(logs) == 2 and logs[0][-2:] == ["--tail", "0"]
    recorded_steps = [event.step for event in recorded_events(ProgressReported) if not event.is_phase]
    metrics = [json.loads(line) for line in (run_dir / runs.METRICS_FILE).read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in metrics if line["event"] == "progress" and line.get("loss") is not None] == \
        recorded_steps
    assert len([line for line in metrics if line["event"] == "started"]) == 1
    checkpoint = next(line for line in metrics if line["event"] == "checkpoint")
    assert checkpoint["path"] == str(run_dir / "checkpoints" / f"checkpoint-{checkpoint['step']}")
    ending = [line for line in metrics if line["event"] in ("finished", "failed")]
    assert len(ending) == 1 and ending[0]["status"] == "finished"
    assert ending[0]["result"]["adapter"] == str(run_dir / "adapter")
    assert ending[0]["result"]["cloud"]["torn_down"] is True
    assert sorted(ending[0]["result"]["cloud"]["downloaded"]) == ["adapter", "checkpoints"]
    # downloaded, then torn down, last
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert runs.latest_checkpoint(run_dir) is not None
    tools = [(call["tool"], call["argv"][0]) for call in calls(cloud)]
    assert tools[-1] == ("sky", "down") and ("rsync", "-a") in tools
    launch = sky_calls(cloud, "launch")[0]
    assert launch[:2] == ["launch", "-c"] and launch[3:] == ["task.yaml", "-y", "-i", "10", "--down",
                                                              "--detach-run"]
    log = (run_dir / runs.LOG_FILE).read_text(encoding="utf-8")
    assert "the log stream ended (exit 255, job RUNNING); reading it again in 2s from line 7" in log
    assert "sky | Job submitted, ID: 1" in log
    assert runs.read_state(run_dir)["status"] == "finished"
    assert json.loads((run_dir / "cloud" / "state.json").read_text())["last_line"] == \
        RECORDED.read_bytes().count(b"\n")


def test_without_sky_the_task_is_written_and_the_command_says_what_to_install(sample_workspace, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]))
    assert shutil.which("sky") is None
    code, out, err = run_cli("train", "--cloud", "--yes-upload", "--accelerator", "L4:1", "--json",
                             workspace=sample_workspace)
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "task-written" and result["launched"] is False
    assert Path(result["task"]).is_file() and (Path(result["run_dir"]) / "cloud" / "data" / "train.jsonl").is_file()
    assert "pip install -r requirements-cloud.txt" in err and "sky check" in err
    assert "sky launch -c dps-" in err and "task.yaml -i 10 --down" in err
    assert runs.read_config(Path(result["run_dir"]))["preset"] == "vram-24gb"  # sized for the L4, not this machine


def test_no_upload_without_the_owners_confirmation(sample_workspace, cloud, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, _out, err = run_cli("train", "--cloud", workspace=sample_workspace)
    assert code == 2 and "the messages of" in err and "--yes-upload" in err
    assert not sample_workspace.runs_dir.exists() or not any(sample_workspace.runs_dir.iterdir())
    assert not (cloud / "calls.jsonl").exists()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, _out, err = run_cli("train", "--cloud", workspace=sample_workspace)
    assert code == 2 and "not confirmed" in err and not (cloud / "calls.jsonl").exists()


def test_a_failed_launch_is_torn_down_and_says_how_to_check_the_clouds(sample_workspace, cloud, monkeypatch):
    monkeypatch.setenv("FAKE_SKY_LAUNCH_FAILS", "1")
    code, _out, err = run_cli("train", "--cloud", "--yes-upload", workspace=sample_workspace)
    assert code == 1 and "sky launch failed" in err and "sky check" in err
    assert sky_calls(cloud, "down") and not sky_calls(cloud, "logs")


# -- the real train worker inside the stand-in cluster ---------------------------------------------------------------
def cloud_job(workspace, max_steps: int):
    from core.config.runtime import app_source_dir
    from core.dataset.leaving import people_leaving
    from core.training.cloud_task import CloudOptions
    from core.training.launch import cloud_training_job, plan_new_run, resolve_data_dir, write_cloud_task
    people = people_leaving(resolve_data_dir(workspace, None))
    planned = plan_new_run(workspace, preset="cpu-tiny", flags={"max_steps": max_steps, "dpo": False},
                           cloud=CloudOptions())
    write_cloud_task(planned, app_source_dir(), confirmed_people=people)
    return planned.run_dir, cloud_training_job(planned)


def follow(spec, *, stop_at_step: int | None = None, timeout: float = 900.0) -> list:
    bus = EventBus()
    job_id = new_job_id(spec.name)
    subscription = bus.subscribe("test", job_id=job_id)
    job = JobRunner(bus).start(spec, job_id=job_id)
    events, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for event in subscription.drain(timeout=0.5):
                events.append(event)
                if stop_at_step and isinstance(event, ProgressReported) and event.step >= stop_at_step:
                    job.stop()
                if isinstance(event, (JobFinished, JobFailed)):
                    job.wait(30)
                    return events
        raise AssertionError("the cloud run did not end in time: " +
                             " | ".join(e.text for e in events if isinstance(e, LogLine))[-3000:])
    finally:
        if job.running:
            job.kill()


@pytest.mark.slow
def test_the_real_worker_runs_from_the_task_and_its_adapter_comes_back(sample_workspace, cloud, monkeypatch):
    monkeypatch.setenv("FAKE_SKY_DROP_AFTER", "5")
    run_dir, spec = cloud_job(sample_workspace, max_steps=3)
    events = follow(spec)
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "finished", ending
    steps = [event.step for event in events if isinstance(event, ProgressReported) and not event.is_phase]
    assert steps == [1, 2, 3]
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert ending.result["adapter"] == str(run_dir / "adapter") and len(sky_calls(cloud, "logs")) >= 2
    assert sky_calls(cloud, "down")


@pytest.mark.slow
def test_stop_reaches_the_remote_worker_at_a_step_boundary_and_its_checkpoint_comes_back(sample_workspace, cloud):
    run_dir, spec = cloud_job(sample_workspace, max_steps=40)
    events = follow(spec, stop_at_step=1)
    ending = events[-1]
    assert isinstance(ending, JobFinished) and ending.status == "stopped", ending
    saved = [event for event in events if isinstance(event, CheckpointSaved)]
    assert saved and saved[-1].path == str(run_dir / "checkpoints" / f"checkpoint-{saved[-1].step}")
    assert saved[-1].step < 40 and ending.step == saved[-1].step
    assert (Path(saved[-1].path) / "trainer_state.json").is_file()  # downloaded
    assert not (run_dir / "adapter").exists()
    (stop_call,) = sky_calls(cloud, "exec")
    assert stop_call[2:] == ["-d", "touch ~/dps-run/STOP"]
    assert sky_calls(cloud, "down")
