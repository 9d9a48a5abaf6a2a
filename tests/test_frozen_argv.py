"""Worker command lines in source runs and in the frozen app (``sys.frozen`` and ``sys.executable`` patched), the
frozen executable's answer to a heavy worker without a training runtime, and the convert worker's argument split."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import runtime
from core.config.resources import BUNDLE_ROOT, PROJECT_ROOT
from core.jobs.specs import worker_argv

FAKE_EXE = "/opt/DiscordPersonaStudio/DiscordPersonaStudio"


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", FAKE_EXE)
    monkeypatch.setenv(runtime.ENV_RUNTIME_DIR, str(tmp_path / "runtime"))
    return tmp_path / "runtime"


def make_runtime(folder: Path, complete: bool = True) -> Path:
    python = runtime.venv_python(folder)
    python.parent.mkdir(parents=True)
    python.write_text("")
    if complete:
        (folder / runtime.MARKER).write_text(json.dumps({"versions": {"torch": "2.13.0"}}), encoding="utf-8")
    return python


def test_source_runs_use_this_interpreter_and_launcher_for_every_worker():
    for name in ("train", "export", "convert", "import", "chat", "bot"):
        assert worker_argv(name, "--x", "1") == (sys.executable, str(PROJECT_ROOT / "launcher.py"), "--worker", name,
                                                 "--x", "1")


def test_frozen_light_workers_relaunch_the_executable(frozen):
    make_runtime(frozen)  # even with a runtime installed: these run in the executable
    for name in ("import", "prepare", "fetch", "runtime"):
        assert worker_argv(name, "--workspace", "W") == (FAKE_EXE, "--worker", name, "--workspace", "W")


def test_frozen_bot_and_chat_run_in_the_executable_until_a_runtime_brings_embeddings(frozen):
    for name in runtime.MEMORY_WORKERS:
        assert worker_argv(name, "--workspace", "W") == (FAKE_EXE, "--worker", name, "--workspace", "W")
    python = make_runtime(frozen)
    for name in runtime.MEMORY_WORKERS:
        assert worker_argv(name)[:2] == (str(python), str(BUNDLE_ROOT / "app" / "launcher.py"))


def test_frozen_heavy_workers_run_in_the_installed_runtime(frozen):
    python = make_runtime(frozen)
    app_launcher = str(BUNDLE_ROOT / "app" / "launcher.py")
    for name in runtime.HEAVY_WORKERS:
        assert worker_argv(name, "--run-dir", "R") == (str(python), app_launcher, "--worker", name, "--run-dir", "R")


def test_frozen_heavy_workers_without_a_complete_runtime_relaunch_the_executable(frozen):
    assert worker_argv("train") == (FAKE_EXE, "--worker", "train")
    make_runtime(frozen, complete=False)  # no runtime.json: an interrupted install is never used
    assert runtime.installed_runtime() is None
    assert worker_argv("export", "--run-dir", "R") == (FAKE_EXE, "--worker", "export", "--run-dir", "R")


def test_the_export_worker_runs_the_converter_through_worker_argv(frozen, monkeypatch, tmp_path):
    """The converter is started as `--worker convert`, never as `sys.executable script.py` (no Python when frozen)."""
    import model.export_gguf as export_gguf
    seen = {}

    class Refused(Exception):
        pass

    def fake_popen(argv, **kwargs):
        seen["argv"] = argv
        raise Refused()

    monkeypatch.setattr(export_gguf.subprocess, "Popen", fake_popen)
    with pytest.raises(Refused):
        export_gguf.convert_to_gguf(tmp_path / "merged", tmp_path / "out.gguf", tmp_path / "llama.cpp")
    assert seen["argv"][:3] == (FAKE_EXE, "--worker", "convert")
    assert list(seen["argv"][3:5]) == ["--converter-dir", str(tmp_path / "llama.cpp")]
    assert "--outfile" in seen["argv"] and not any(str(a).endswith(".py") for a in seen["argv"])


def test_frozen_heavy_worker_without_runtime_fails_in_one_line_and_one_event(tmp_path):
    """launcher.run_worker as the executable runs it: exit 1, the install command named, a JobFailed for the panel."""
    probe = (f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); sys.frozen = True\n"
             "import launcher; sys.exit(launcher.run_worker(['train', '--data', 'x']))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, runtime.ENV_RUNTIME_DIR: str(tmp_path / "none")})
    assert result.returncode == 1
    assert "runtime install" in result.stderr and "Traceback" not in result.stderr
    from core.jobs.wire import parse_line
    events = [event for line in result.stdout.splitlines() for event in parse_line(line)]
    assert [type(event).__name__ for event in events] == ["JobFailed"]
    assert "training runtime" in events[0].message


def test_convert_worker_splits_its_own_option_from_the_converters():
    from model.convert_worker import split_argv
    assert split_argv(["--converter-dir", "/c", "m", "--outfile", "o"]) == (Path("/c"), ["m", "--outfile", "o"])
    assert split_argv(["m", "--outtype", "f16"]) == (None, ["m", "--outtype", "f16"])


def test_launcher_knows_the_convert_and_runtime_workers_and_calls_freeze_support_first():
    import inspect

    import launcher
    assert launcher.WORKERS["convert"] == "model.convert_worker"
    assert launcher.WORKERS["runtime"] == "core.runtime.install_worker"
    first_statement = inspect.getsource(launcher.main).splitlines()[1]
    assert "multiprocessing.freeze_support()" in first_statement


def test_self_test_flag_reaches_the_self_test_with_the_workspace_in_either_order(monkeypatch):
    import gui.self_test
    import launcher
    seen = []
    monkeypatch.setattr(gui.self_test, "main", lambda argv: seen.append(argv) or 7)
    assert launcher.main(["--workspace", "W", "--self-test"]) == 7
    assert launcher.main(["--self-test"]) == 7
    assert seen == [["--workspace", "W"], []]
