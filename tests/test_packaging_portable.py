"""The llama.cpp that ships is a portable build (install.py: ``CMAKE_ARGS=-DGGML_NATIVE=OFF``): it uses no CPU feature
beyond the baseline x86-64 set a non-native ggml build enables, even on a machine that has more (AVX-512 here), so
the executable runs on CPUs other than the build machine's. build.spec copies these very library files."""
from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# What a native build adds on a CPU that has them; a GGML_NATIVE=OFF build enables none of these.
NATIVE_ONLY = ("AVX512", "AVX_VNNI", "AMX", "AVX512_BF16", "AVX512_VNNI")
PORTABLE_X86 = {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"}


def llama_lib() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        pytest.skip("llama_cpp is not installed (python install.py)")
    return Path(spec.origin).parent / "lib"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def system_info() -> str:
    probe = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          check=True).stdout


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 feature names")
def test_system_info_shows_only_the_portable_feature_set():
    llama_lib()
    info = system_info()
    enabled = {name.strip() for name, value in re.findall(r"([A-Z0-9_]+) = (\d)", info) if value == "1"}
    assert not [name for name in enabled if name.startswith(NATIVE_ONLY)], info
    assert {"AVX2", "FMA"} <= enabled  # still the fast baseline kernels, not a bare SSE build
    if "avx512f" in cpu_flags():  # then a -march=native build would have shown AVX512 = 1
        assert "AVX512" not in info


@pytest.mark.skipif(shutil.which("objdump") is None or sys.platform != "linux", reason="needs binutils' objdump")
def test_cpu_backend_has_no_avx512_instructions():
    library = next(iter(sorted(llama_lib().glob("libggml-cpu.so*"))), None)
    if library is None:
        pytest.skip("no libggml-cpu.so (a build without the CPU backend split)")
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert out.count("\n") > 10000  # really disassembled
    assert "%zmm" not in out  # 512-bit registers: only an AVX-512 (native on this CPU) build uses them
