"""Does `install.py --cuda` resolve? A real resolver, without installing, for the platforms our users have.

    python bench/check_cuda_resolution.py      # Linux x86_64 (Python 3.11, 3.12) and Windows x64 (3.11, 3.12)

Resolves exactly what ``install.py --cuda`` asks for (torch, requirements.txt, and requirements-ml.txt with
requirements-cuda.txt's lines in place) for each target platform and prints the versions that would be installed for
the packages that matter; exit 1 when any platform fails. It uses ``uv pip compile --python-platform`` (installed
into a temporary folder from PyPI when missing) because pip's ``--platform`` still evaluates environment markers such
as ``platform_system == "Linux"`` against the machine it runs on, so pip cannot check Windows from Linux. Needs PyPI;
nothing is installed into the project. PyPI's Windows torch is the CPU build (install.py takes the CUDA build there
from PyTorch's index, which this check does not reach); the Windows lines check the rest of the set against the same
torch version.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import install  # noqa: E402

TARGETS = {"linux-x86_64": "x86_64-manylinux_2_28", "windows-x64": "x86_64-pc-windows-msvc"}
PYTHONS = ("3.11", "3.12")
WATCH = ("torch", "torchvision", "transformers", "trl", "datasets", "peft", "accelerate", "unsloth", "unsloth-zoo",
         "bitsandbytes", "xformers", "triton", "triton-windows", "torchao", "sentence-transformers", "discord-py")


def uv_binary(scratch: Path) -> str:
    found = shutil.which("uv")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                    str(scratch / "uv"), "uv"], check=True)
    folder = scratch / "uv" / "bin"
    return str(folder / "uv.exe") if (folder / "uv.exe").exists() else str(folder / "uv")


def resolve(uv: str, platform: str, python: str, inputs: list[Path]) -> tuple[dict[str, str] | None, str]:
    result = subprocess.run([uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python-platform",
                             platform, "--python-version", python, *map(str, inputs)], capture_output=True, text=True)
    if result.returncode != 0:
        return None, " | ".join(line for line in result.stderr.splitlines()[-6:] if line.strip())
    versions = {}
    for line in result.stdout.splitlines():
        name, _, version = line.partition("==")
        if version:
            versions[name.strip().lower().replace("_", "-").replace(".", "-")] = version.split(";")[0].strip()
    return versions, ""


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as temp:
        scratch = Path(temp)
        torch_line = scratch / "torch.txt"
        torch_line.write_text(install.TORCH_CPU[0] + "\n", encoding="utf-8")
        inputs = [torch_line, install.ROOT / "requirements.txt", install.worker_requirements(cuda=True)]
        uv = uv_binary(scratch)
        for name, platform in TARGETS.items():
            for python in PYTHONS:
                versions, error = resolve(uv, platform, python, inputs)
                if versions is None:
                    failed += 1
                    print(f"{name} py{python}: DOES NOT RESOLVE: {error}")
                    continue
                shown = ", ".join(f"{package} {versions[package]}" for package in WATCH if package in versions)
                print(f"{name} py{python}: resolves ({len(versions)} packages): {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
