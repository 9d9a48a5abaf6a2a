"""Hardening of the job layer: nothing a UI thread calls blocks for long, and secrets stay out of logs and files."""
from __future__ import annotations

import json
import os
import stat
import time

import pytest

from core.config import secrets
from core.jobs import runs
from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, LogLine
from core.jobs.runner import JobRunner
from core.training import vram
from tests.conftest import run_cli
from tests.fakes_discord import make_token
from tests.test_jobs import collect, fake_spec

TOKEN = make_token(123456789012345678)
SHAPELESS = "hunter2-not-token-shaped"  # a registered secret that only the exact-match path can catch


def fake_nvidia_smi(folder, body: str, monkeypatch):
    if os.name == "nt":
        pytest.skip("the fake nvidia-smi is a shell script")
    tool = folder / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(vram, "_probes", {})
    return tool


def test_the_gpu_probe_returns_fast_when_nvidia_smi_hangs(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, "sleep 30", monkeypatch)
    monkeypatch.setattr(vram, "PROBE_TIMEOUT_SECONDS", 3.0)
    started = time.monotonic()
    assert vram.detect_gpu_memory_gb() is None
    assert time.monotonic() - started < vram.PROBE_WAIT_SECONDS + 0.3
    started = time.monotonic()
    assert vram.detect_gpu_memory_gb(wait=0.05) is None  # the same query, still hung: no second process
    assert time.monotonic() - started < 0.3
    assert len(vram._probes) == 1


def test_the_gpu_probe_answers_and_caches(tmp_path, monkeypatch):
    tool = fake_nvidia_smi(tmp_path, "echo 24576", monkeypatch)
    assert vram.detect_gpu_memory_gb(wait=5) == 24.0
    tool.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    assert vram.detect_gpu_memory_gb(wait=0) == 24.0  # asked once per process
    assert vram.preset_for_gpu(24.0) == "vram-24gb"


def test_current_umask_never_changes_the_umask(monkeypatch, tmp_path):
    from core.config import workspace
    if os.name == "nt":
        assert workspace.current_umask() == 0
        return
    previous = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("os.umask flips the process umask"))
        if os.path.exists("/proc/self/status"):
            assert workspace.current_umask() == 0o027
        workspace.atomic_write_text(tmp_path / "f.txt", "x")
        if os.path.exists("/proc/self/status"):
            assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o640
    finally:
        monkeypatch.undo()
        os.umask(previous)


def test_debug_tracebacks_are_redacted(workspace, monkeypatch):
    secrets.register_secret(SHAPELESS)

    def broken(args, context):
        token, other = TOKEN, SHAPELESS  # noqa: F841 (the traceback shows this source line)
        raise RuntimeError(f"login failed with {TOKEN} / {SHAPELESS}")

    monkeypatch.setattr("core.cli.data_commands.run_stats", broken)
    code, out, err = run_cli("--debug", "stats", workspace=workspace)
    assert code == 1 and "Traceback (most recent call last)" in err and "RuntimeError: login failed" in err
    assert TOKEN not in err and SHAPELESS not in err and secrets.REDACTED in err


def test_run_log_metrics_and_state_are_redacted(tmp_path):
    secrets.register_secret(SHAPELESS)
    bus = EventBus()
    sub = bus.subscribe("test")
    job = JobRunner(bus).start(fake_spec("--steps", "2", "--say", f"auth {TOKEN} and {SHAPELESS}",
                                         run_dir=tmp_path))
    events = collect(sub, job)
    assert any(TOKEN in event.text for event in events if isinstance(event, LogLine))  # the bus is not a file
    recorder = runs.RunRecorder(tmp_path)
    recorder.record(JobFailed(message=f"bad token {TOKEN}", advice=f"not {SHAPELESS}", last_lines=(TOKEN,)))
    recorder.close()
    for name in (runs.LOG_FILE, runs.METRICS_FILE, runs.STATE_FILE):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert TOKEN not in text and SHAPELESS not in text, name
    assert f"auth {secrets.REDACTED} and {secrets.REDACTED}" in (tmp_path / runs.LOG_FILE).read_text()
    for line in (tmp_path / runs.METRICS_FILE).read_text(encoding="utf-8").splitlines():
        json.loads(line)  # still JSON after redaction
