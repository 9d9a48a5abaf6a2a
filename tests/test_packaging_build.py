"""The executable, built for real by .ci/build_exe.sh (PyInstaller one-folder build + its self-test on a virtual
display), then driven from outside: the same command line as launcher.py, a heavy worker without a runtime, the
training runtime provisioned by the executable itself, and export's converter (`--worker convert`) producing a GGUF
that llama.cpp loads. With DPS_REUSE_BUILD=1 (set by .ci/run after it ran the script) an existing build is reused."""
from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tiny_hf_model import tiny_hf_model

pytestmark = pytest.mark.slow
DIST = ROOT / "dist" / "DiscordPersonaStudio"
EXE = DIST / ("DiscordPersonaStudio.exe" if os.name == "nt" else "DiscordPersonaStudio")
INFO = ROOT / "dist" / "build-info.json"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
BUILD_TIMEOUT = 1800


def run_exe(*argv: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def built():
    if shutil.which("xvfb-run") is None or importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("needs xvfb-run and PyInstaller (requirements-dev.txt)")
    if os.environ.get("DPS_REUSE_BUILD") == "1" and INFO.exists() and EXE.exists():
        return json.loads(INFO.read_text()), "(reused)"
    INFO.unlink(missing_ok=True)
    result = subprocess.run(["bash", str(ROOT / ".ci" / "build_exe.sh")], capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return json.loads(INFO.read_text()), result.stdout


def test_the_ci_script_builds_the_executable_and_its_self_test_passes(built):
    info, output = built
    assert info["build_seconds"] > 0 and info["self_test_seconds"] > 0 and 50 < info["size_mb"] < 4000
    if output != "(reused)":
        assert "self-test passed" in output and "playground reply from" in output
    internal = DIST / "_internal"
    venv_lib = SITE_PACKAGES / "llama_cpp" / "lib"
    shipped = {path.name: path for path in (internal / "llama_cpp" / "lib").iterdir()}
    assert {"libllama.so", "libggml-cpu.so"} <= set(shipped) or {"llama.dll", "ggml-cpu.dll"} <= set(shipped)
    for name, path in shipped.items():  # the very portable build the tests check, not another
        assert filecmp.cmp(venv_lib / name, path, shallow=False), name
    assert (internal / "customtkinter" / "assets" / "themes" / "blue.json").exists()
    assert sorted(p.name for p in (internal / "storage" / "migrations").glob("*.sql")) == \
        sorted(p.name for p in (ROOT / "storage" / "migrations").glob("*.sql"))
    assert (internal / "assets" / "icons" / "app.png").exists()
    assert (internal / "app" / "launcher.py").exists() and (internal / "app" / "model" / "train_worker.py").exists()
    assert (DIST / "third_party" / "llama.cpp" / "convert_hf_to_gguf.py").exists()
    assert not (internal / "torch").exists() and not (internal / "transformers").exists()  # left to the runtime


def test_the_executable_takes_launchers_arguments(built, tmp_path):
    result = run_exe("--workspace", str(tmp_path / "ws"), "import", str(ROOT / "assets" / "sample_server" /
                                                                         "export"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["messages_new"] > 1000
    result = run_exe("--workspace", str(tmp_path / "ws"), "stats", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)
    assert run_exe("no-such-command").returncode == 2


def test_a_heavy_worker_without_runtime_names_the_install_command(built, tmp_path):
    result = run_exe("--worker", "train", env={"DPS_RUNTIME_DIR": str(tmp_path / "none")})
    assert result.returncode == 1 and "runtime install" in result.stderr and "Traceback" not in result.stderr


def test_self_test_without_a_display_fails_with_the_reason(built):
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([str(EXE), "--self-test"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "self-test FAILED: window" in result.stderr


def test_frozen_export_converter_makes_a_gguf_that_loads(built, tmp_path):
    runtime = tmp_path / "runtime"
    env = {"DPS_RUNTIME_DIR": str(runtime)}
    base = Path(getattr(sys, "_base_executable", sys.executable))
    result = run_exe("--workspace", str(tmp_path / "ws"), "runtime", "install", "--link", str(SITE_PACKAGES),
                     "--python", str(base), "--json", env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["versions"]["torch"]
    model = tiny_hf_model(tmp_path / "tiny")
    gguf = tmp_path / "tiny-f16.gguf"
    result = run_exe("--worker", "convert", str(model), "--outfile", str(gguf), "--outtype", "f16", env=env,
                     timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    import llama_cpp
    llm = llama_cpp.Llama(str(gguf), n_ctx=64, verbose=False)
    try:
        assert llm.metadata["general.architecture"] == "llama" and llm.n_vocab() == 49152
        assert llm.tokenize(b"hello there") and len(llm.create_completion("hi", max_tokens=2)["choices"]) == 1
    finally:
        llm.close()


def test_self_test_from_source_on_a_virtual_display():
    if shutil.which("xvfb-run") is None:
        pytest.skip("needs xvfb-run")
    result = subprocess.run(["xvfb-run", "-a", sys.executable, str(ROOT / "launcher.py"), "--self-test"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "self-test: playground reply from" in result.stdout and "self-test passed" in result.stdout


def test_training_and_export_start_from_the_executable(built, tmp_path):
    """The executable has no torch: a finished train and export prove the runtime path (worker_argv -> the runtime's
    Python running _internal/app) end to end, with llama.cpp's converter as `--worker convert`."""
    env = {"DPS_RUNTIME_DIR": str(tmp_path / "runtime")}
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "config.toml").write_text("[training]\ndpo = false\n", encoding="utf-8")  # SFT is enough here
    base = Path(getattr(sys, "_base_executable", sys.executable))
    steps = [("runtime", "install", "--link", str(SITE_PACKAGES), "--python", str(base)),
             ("import", str(ROOT / "assets" / "sample_server" / "export")),
             ("prepare", "--out", str(tmp_path / "data")),
             ("train", "--data", str(tmp_path / "data"), "--preset", "cpu-tiny", "--max-steps", "1")]
    for argv in steps:
        result = run_exe("--workspace", str(workspace), *argv, "--json", env=env, timeout=900)
        assert result.returncode == 0, f"{argv[0]}: {result.stderr[-3000:]}"
    trained = json.loads(result.stdout)
    assert trained["status"] == "finished" and trained["steps"] == 1
    result = run_exe("--workspace", str(workspace), "export", trained["run_id"], "--json", env=env, timeout=900)
    # After one step the persona may still ramble past the smoke test's length (its quality is test_export.py's
    # business): here every step must have run, through the converter, to a quantized GGUF that loads.
    smoke_only = result.returncode == 1 and "error: the smoke test failed" in result.stderr
    assert result.returncode == 0 or smoke_only, result.stderr[-3000:]
    assert "Ollama Modelfile written: " in result.stderr  # the last phase ran (the log words of core.jobs.log_lines)
    assert "converter: INFO:hf-to-gguf:Model successfully exported" in result.stderr
    gguf = Path(trained["run_dir"]) / "export" / "model-q4_k_m.gguf"
    import llama_cpp
    llm = llama_cpp.Llama(str(gguf), n_ctx=64, verbose=False)
    try:
        assert llm.metadata["general.architecture"] == "llama"
    finally:
        llm.close()
