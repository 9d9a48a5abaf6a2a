"""The training runtime, provisioned for real: a virtual environment made from this Python, pip installing a wheel
offline, the app's llama_cpp copied in, the training stack checked, ``runtime.json`` last. The ML stack comes from
the checkout's .venv through ``--link`` (downloading torch again would only cost CI time); the pip step installs a
wheel built here, so the install path itself runs too."""
from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from core.config.runtime import MARKER, installed_runtime, venv_python
from core.runtime.provision import Plan, ProvisionError, find_base_python, provision
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])  # this checkout's .venv: torch, transformers, ...


def probe_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (dps_probe 0.1), written by hand: no network, no build backend."""
    wheel = folder / "dps_probe-0.1-py3-none-any.whl"
    files = {"dps_probe/__init__.py": "VERSION = '0.1'\n",
             "dps_probe-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: dps_probe\nVersion: 0.1\n",
             "dps_probe-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                              "Tag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + "dps_probe-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, "dps_probe-0.1.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


def in_runtime(folder: Path, code: str) -> str:
    return subprocess.run([str(venv_python(folder)), "-c", code], capture_output=True, text=True, timeout=300,
                          check=True).stdout.strip()


def test_provision_installs_reports_progress_and_writes_the_marker_last(tmp_path):
    folder = tmp_path / "runtime"
    plan = Plan(folder=folder, base_python=find_base_python(), link=SITE_PACKAGES,
                pip_steps=[("the probe package", ["--no-index", str(probe_wheel(tmp_path))])])
    steps, lines = [], []
    info = provision(plan, lambda step, total, message: steps.append((step, total, message)), log=lines.append)
    assert [step for step, _, _ in steps] == list(range(len(steps))) and steps[-1][2] == "ready"
    assert "installing" not in " ".join(message for _, _, message in steps)  # labels, not pip's lines
    assert any(line.startswith("Successfully installed dps") and "probe" in line for line in lines), lines[-5:]
    runtime = installed_runtime(folder)
    assert runtime is not None and runtime.info == info
    assert info["versions"]["torch"] and info["versions"]["llama_cpp"]
    assert in_runtime(folder, "import dps_probe; print(dps_probe.VERSION)") == "0.1"
    llama = Path(in_runtime(folder, "import llama_cpp; print(llama_cpp.__file__)"))
    assert folder in llama.parents  # the app's copy, not the linked environment's
    assert (llama.parent / "lib").is_dir()


def test_a_failed_install_leaves_no_runtime_behind(tmp_path):
    folder = tmp_path / "runtime"
    (folder / "bin").mkdir(parents=True)
    (folder / MARKER).write_text("{}")  # an earlier runtime: it is no longer complete once a reinstall starts
    plan = Plan(folder=folder, base_python=find_base_python(), link=SITE_PACKAGES,
                pip_steps=[("a missing package", ["--no-index", str(tmp_path / "missing-0.1-py3-none-any.whl")])])
    with pytest.raises(ProvisionError, match="installing a missing package failed"):
        provision(plan, lambda *args: None, log=lambda line: None)
    assert installed_runtime(folder) is None and not (folder / MARKER).exists()


def test_no_suitable_python_is_one_line(tmp_path):
    with pytest.raises(ProvisionError, match="no Python 3.11 or newer found at"):
        find_base_python(tmp_path / "no-python")


def test_runtime_install_and_status_commands_through_the_worker(workspace, tmp_path):
    folder = tmp_path / "rt"
    code, out, err = run_cli("runtime", "status", "--folder", str(folder), "--json", workspace=workspace)
    assert code == 0 and json.loads(out)["installed"] is False
    code, out, err = run_cli("runtime", "install", "--link", str(SITE_PACKAGES), "--folder", str(folder), "--json",
                             workspace=workspace)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert result["folder"] == str(folder.resolve()) and result["linked"] == str(SITE_PACKAGES)
    assert "[4/4] checking the training stack" in err  # the worker's steps reach the command's output
    code, out, err = run_cli("runtime", "status", "--folder", str(folder), "--json", workspace=workspace)
    status = json.loads(out)
    assert status["installed"] is True and status["python"] == str(venv_python(folder.resolve()))
    assert status["versions"]["transformers"]
    run_logs = list((workspace.logs_dir / "jobs").glob("*-runtime-*/run.log"))
    assert run_logs and "copying the app's llama.cpp" in run_logs[0].read_text(encoding="utf-8")


def test_the_panels_install_job_reports_each_step_as_progress(workspace, tmp_path):
    """``runtime_install_job`` (what a panel button starts) through the real job runner: one ProgressReported per
    step, then JobFinished with what runtime.json records."""
    from core.jobs.bus import EventBus
    from core.jobs.events import JobFailed, JobFinished, ProgressReported
    from core.jobs.runner import JobRunner
    from core.runtime.jobs import runtime_install_job
    spec = runtime_install_job(workspace.logs_dir, tmp_path / "rt", link=SITE_PACKAGES)
    assert spec.argv[-4:] == ("--folder", str(tmp_path / "rt"), "--link", str(SITE_PACKAGES))
    bus = EventBus()
    subscription = bus.subscribe("test")
    job = JobRunner(bus).start(spec)
    job.wait(300)
    events = []
    while subscription.pending():
        events += subscription.drain()
    progress = [event for event in events if isinstance(event, ProgressReported)]
    ending = [event for event in events if isinstance(event, (JobFinished, JobFailed))]
    assert [event.message for event in progress][:2] == ["creating the environment", f"linking {SITE_PACKAGES}"]
    assert progress[-1].message == "ready" and progress[-1].step == progress[-1].total
    assert len(ending) == 1 and isinstance(ending[0], JobFinished), ending
    assert ending[0].result["versions"]["peft"]
