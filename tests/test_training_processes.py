"""The process count of a run (``--gpus``) and the command line that starts it: one process is the worker as before,
N go through Accelerate's launcher; counts that cannot run here are refused in one line; the count is recorded in
config.json and a resume may change it; a cloud run is one process; the plan's effective batch counts every
process. Plain logic with fakes (no GPU, no launcher started)."""
from __future__ import annotations

import json
import sys

import pytest

from core.config import runtime
from core.config.resources import BUNDLE_ROOT, PROJECT_ROOT
from core.jobs import runs
from core.training import processes, vram
from core.training.launch import LaunchError, plan_new_run, plan_resume, training_job
from tests.conftest import run_cli

LAUNCH = ("-m", "accelerate.commands.launch")


def test_one_process_is_the_worker_itself_and_several_go_through_accelerate_launch():
    worker = (sys.executable, str(PROJECT_ROOT / "launcher.py"), "--worker", "train", "--run-dir", "R")
    assert processes.launch_argv(worker, 1) == worker
    argv = processes.launch_argv(worker, 2, cpu_threads=1)
    assert argv[:3] == (sys.executable, *LAUNCH)
    assert argv[-5:] == worker[1:]  # the same script and arguments, after the launcher's options
    options = argv[3:-5]
    assert options[options.index("--num_processes") + 1] == "2" and "--multi_gpu" in options
    assert options[options.index("--main_process_port") + 1] == "0"  # a free port: two runs never clash
    assert options[options.index("--num_cpu_threads_per_process") + 1] == "1"
    assert all(isinstance(part, str) for part in argv)  # an argv list, never a shell string


def test_the_frozen_app_launches_the_runtime_python_and_without_a_runtime_keeps_its_own_failure(monkeypatch,
                                                                                                tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/DPS/DiscordPersonaStudio")
    monkeypatch.setenv(runtime.ENV_RUNTIME_DIR, str(tmp_path / "runtime"))
    from core.jobs.specs import worker_argv
    without = worker_argv("train", "--run-dir", "R")
    assert processes.launch_argv(without, 2) == without  # it answers "install the training runtime" itself
    python = runtime.venv_python(tmp_path / "runtime")
    python.parent.mkdir(parents=True)
    python.write_text("")
    (tmp_path / "runtime" / runtime.MARKER).write_text("{}", encoding="utf-8")
    argv = processes.launch_argv(worker_argv("train", "--run-dir", "R"), 2)
    assert argv[:3] == (str(python), *LAUNCH)
    assert argv[-5:] == (str(BUNDLE_ROOT / "app" / "launcher.py"), "--worker", "train", "--run-dir", "R")


def test_default_is_every_visible_gpu_on_linux_and_one_process_elsewhere():
    assert processes.plan_processes(None, 4, os_name="posix").processes == 4
    assert processes.plan_processes(None, 0, os_name="posix").processes == 1      # the CPU
    assert processes.plan_processes(None, None, os_name="posix").processes == 1   # nvidia-smi not answered yet
    assert processes.plan_processes(None, 4, os_name="nt").processes == 1         # Windows: one GPU


def test_counts_that_cannot_run_here_are_refused_in_one_line():
    with pytest.raises(processes.ProcessCountError, match="Linux only"):
        processes.plan_processes(2, 2, os_name="nt")
    with pytest.raises(processes.ProcessCountError, match="only 2 GPU"):
        processes.plan_processes(3, 2, os_name="posix")
    with pytest.raises(processes.ProcessCountError, match="at least 1"):
        processes.plan_processes(0, 2, os_name="posix")
    assert processes.plan_processes(1, 2, os_name="nt").processes == 1
    on_cpu = processes.plan_processes(2, 0, os_name="posix")  # what the tests use: gloo CPU processes, with a note
    assert on_cpu.processes == 2 and "CPU processes" in on_cpu.warnings[0]


def test_a_resume_keeps_its_count_while_it_fits_and_says_so_when_it_cannot():
    assert processes.plan_processes(None, 4, recorded=2, os_name="posix").processes == 2
    assert processes.plan_processes(1, 4, recorded=2, os_name="posix").processes == 1  # --gpus wins
    fewer = processes.plan_processes(None, 1, recorded=2, os_name="posix")
    assert fewer.processes == 1 and "used 2 processes" in fewer.warnings[0]
    windows = processes.plan_processes(None, 2, recorded=2, os_name="nt")
    assert windows.processes == 1 and "Linux only" in windows.warnings[0]


def test_visible_gpus_follow_cuda_visible_devices():
    assert processes.visible_gpus(4, None) == 4
    assert processes.visible_gpus(4, "1,3") == 2
    assert processes.visible_gpus(4, "") == 0 and processes.visible_gpus(4, "-1") == 0
    assert processes.visible_gpus(2, "0,1,2,3") == 2
    assert processes.visible_gpus(None, "0") is None


@pytest.fixture
def planned_setup(workspace, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    monkeypatch.setattr(processes, "multi_process_supported", lambda os_name=None: True)
    return workspace, data, base


def test_the_count_is_recorded_in_config_json_and_a_resume_may_change_it(planned_setup, monkeypatch):
    workspace, data, base = planned_setup
    monkeypatch.setattr(vram, "detect_gpu_count", lambda wait=None: 2)
    planned = plan_new_run(workspace, base=str(base), data=str(data), preset="cpu-tiny")  # default: all visible
    assert planned.processes == 2 and runs.read_config(planned.run_dir)["processes"] == 2
    assert training_job(planned).argv[1:3] == LAUNCH
    with pytest.raises(LaunchError, match="only 2 GPU"):
        plan_new_run(workspace, base=str(base), data=str(data), preset="cpu-tiny", processes=3)
    checkpoint = planned.run_dir / runs.CHECKPOINTS_DIR / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert plan_resume(workspace, planned.run_id).processes == 2  # the run's own count
    resumed = plan_resume(workspace, planned.run_id, processes=1)
    assert resumed.processes == 1 and runs.read_config(planned.run_dir)["processes"] == 1
    assert training_job(resumed).argv[1].endswith("launcher.py")  # one process: no launcher in between
    snapshot = json.loads((planned.run_dir / runs.CONFIG_FILE).read_text(encoding="utf-8"))
    assert snapshot["training"]["max_steps"] == 40  # the rest of the snapshot is untouched


def test_gpu_count_reads_every_nvidia_smi_line(monkeypatch):
    import subprocess
    monkeypatch.setattr(vram.subprocess, "run", lambda argv, **kwargs: subprocess.CompletedProcess(
        argv, 0, stdout="81559\n81559\n81559\n", stderr=""))
    monkeypatch.setattr(vram.shutil, "which", lambda name: "/fake/nvidia-smi")
    monkeypatch.setattr(vram, "_probes", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert vram.detect_gpu_count(wait=5) == 3 and vram.detect_gpu_memory_gb() == 79.6
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert vram.detect_gpu_count() == 1
    monkeypatch.setattr(vram.shutil, "which", lambda name: None)
    assert vram.detect_gpu_count() == 0


def test_a_cloud_run_is_one_process_whatever_this_machine_has(planned_setup, monkeypatch):
    from core.training.cloud_task import CloudOptions
    workspace, data, base = planned_setup
    monkeypatch.setattr(vram, "detect_gpu_count", lambda wait=None: 2)
    planned = plan_new_run(workspace, base=str(base), data=str(data), preset="cpu-tiny", cloud=CloudOptions())
    assert planned.processes == 1 and runs.read_config(planned.run_dir)["processes"] == 1
    code, _out, err = run_cli("train", "--cloud", "--gpus", "2", workspace=workspace)
    assert code == 2 and "--gpus" in err and "drop" in err


def test_the_plan_counts_every_process_in_the_effective_batch():
    from core.config.training import build_training_config
    from core.jobs.events import JobStarted
    from core.jobs.log_phases import training_plan
    from model.training_report import plan_details
    config = build_training_config("cpu-tiny", {}, {"per_device_batch_size": 2, "gradient_accumulation_steps": 3})
    two, one = (plan_details(config, 10, 100, 0, 0, processes) for processes in (2, 1))
    assert (two["effective_batch"], one["effective_batch"]) == (12, 6) and two["epochs"] == 2 * one["epochs"]
    words = [training_plan(JobStarted(name="train", backend="peft", device="cpu", total_steps=10, details=details))[0]
             for details in (two, one)]
    assert "effective batch 12 (2 per device × 3 accumulation × 2 processes)" in words[0], words
    assert "effective batch 6 (2 per device × 3 accumulation)," in words[1], words


WHOLE_LINES_PROBE = """
import os, sys
sys.path.insert(0, sys.argv[1])
from model import distributed
if sys.argv[2] == "whole":
    distributed.whole_lines()
for index in range(3000):
    print(f"rank {os.environ['RANK']} line {index} " + "x" * 40)
"""


@pytest.mark.parametrize("mode", ["whole", "as-is"])
def test_ranks_printing_at_once_keep_their_lines_whole(tmp_path, mode):
    """Two ranks print into one pipe, unbuffered as the runner starts workers: with ``whole_lines`` (what
    ``worker_link`` does with several ranks) no line is torn. Unbuffered as-is, print's separate newline write lets
    the other rank's text in between (CI once saw "rank 0 stopped at step 3rank 1 stopped at step 3"); the as-is
    case shows the probe sees that on a machine with more than one core."""
    import os
    import subprocess
    probe = tmp_path / "probe.py"
    probe.write_text(WHOLE_LINES_PROBE, encoding="utf-8")
    read, write = os.pipe()
    children = [subprocess.Popen([sys.executable, str(probe), str(PROJECT_ROOT), mode], stdout=write,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1", "RANK": str(rank), "WORLD_SIZE": "2"})
                for rank in (0, 1)]
    os.close(write)
    with os.fdopen(read, encoding="utf-8") as pipe:
        lines = pipe.read().splitlines()
    assert all(child.wait(60) == 0 for child in children)
    torn = [line for line in lines if not (line.startswith("rank ") and line.endswith("x" * 40)
                                            and line.count("rank ") == 1)]
    if mode == "whole":
        assert not torn and len(lines) == 6000, torn[:3]
    elif (os.cpu_count() or 1) > 1:
        assert torn  # two cores tear about one line in six this way: the probe can see what whole_lines prevents
