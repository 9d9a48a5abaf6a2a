"""Export steps 2 and 3: a merged Hugging Face folder → f16 GGUF (llama.cpp's own converter) → quantized GGUF.

The converter is ``convert_hf_to_gguf.py`` from the llama-cpp-python source distribution, run as the ``convert``
worker (``model/convert_worker.py``, with its bundled gguf-py first on the path: the PyPI ``gguf`` package lags
behind it and fails). Quantization goes
through llama_cpp's C API in this process. Small models have tensor rows that k-quants cannot hold (k-quants need
multiples of 256; SmolLM2-135M's are 576): llama.cpp then stores those tensors in a compatible type, and we read its
log to report which and how many, rather than hide it.
"""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.jobs.specs import worker_argv
from model.export_merge import ExportError

QUANTS = {"q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "f16": None}
FALLBACK_QUANT = "q8_0"  # works for any row length that is a multiple of 32, which every transformer has
CONVERTER_TAIL_LINES = 15
TENSOR_LINE = re.compile(r"\]\s+(?P<name>\S+)\s+- \[.*?type =\s+(?P<source>\w+),\s+(?:converting to (?P<to>\w+)|size)")
FALLBACK_LINE = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback quantization")


@dataclass
class QuantizeReport:
    requested: str
    produced: str
    tensor_types: dict[str, int] = field(default_factory=dict)
    fallback_tensors: int = 0
    total_tensors: int = 0
    note: str = ""
    log: list[str] = field(default_factory=list, repr=False)  # llama.cpp's own lines, for quantize.log

    def to_json(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "log"}


def convert_to_gguf(merged_dir: Path, out_file: Path, converter_dir: Path, outtype: str = "f16",
                    log=print) -> Path:
    """Run llama.cpp's converter on ``merged_dir``; the GGUF appears at ``out_file`` only when it succeeded."""
    partial = out_file.with_name(out_file.name + ".partial")
    # The converter is a worker entry (model/convert_worker.py): the frozen app has no Python to run a script with.
    argv = worker_argv("convert", "--converter-dir", str(converter_dir), str(merged_dir), "--outfile", str(partial),
                       "--outtype", outtype)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, encoding="utf-8", errors="replace")
    tail: list[str] = []
    for line in process.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-CONVERTER_TAIL_LINES:]
        if line.startswith(("INFO:hf-to-gguf:Model successfully", "ERROR", "Traceback")) or "Error" in line:
            log(f"converter: {line}")
    if process.wait() != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        last = next((line for line in reversed(tail) if line.strip()), "no output")
        raise ExportError(f"llama.cpp's converter failed on {merged_dir}: {last[:300]}",
                          "the model architecture may be unsupported by this llama.cpp version; see the export log")
    os.replace(partial, out_file)
    return out_file


class _LlamaLogCapture:
    """Collects llama.cpp's log lines while active (quantize reports per-tensor types only there)."""

    def __init__(self):
        import llama_cpp
        self._llama_cpp = llama_cpp
        self.text: list[str] = []
        self._callback = llama_cpp.llama_log_callback(self._collect)  # kept referenced while C may call it

    def _collect(self, level, text, user_data):
        self.text.append(text.decode("utf-8", errors="replace"))

    def __enter__(self):
        self._llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))
        return self

    def __exit__(self, *exc):
        from llama_cpp import _logger
        self._llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))

    def lines(self) -> list[str]:
        return "".join(self.text).splitlines()


def parse_quantize_log(lines: list[str], requested: str, produced: str) -> QuantizeReport:
    """Tensor types in the output file and how many tensors needed a fallback type, from llama.cpp's log."""
    types: Counter[str] = Counter()
    for line in lines:
        match = TENSOR_LINE.search(line)
        if match:
            types[match.group("to") or match.group("source")] += 1
    report = QuantizeReport(requested=requested, produced=produced, tensor_types=dict(sorted(types.items())),
                            total_tensors=sum(types.values()), log=list(lines))
    for line in lines:
        match = FALLBACK_LINE.search(line)
        if match:
            report.fallback_tensors, report.total_tensors = int(match.group(1)), int(match.group(2))
    if report.fallback_tensors:
        report.note = (f"{report.fallback_tensors} of {report.total_tensors} tensors have rows that {requested} "
                       f"cannot hold; llama.cpp stored them as the nearest compatible type (normal for small models)")
    return report


def quantize(f16_file: Path, out_file: Path, quant: str, threads: int | None = None) -> QuantizeReport:
    """Quantize ``f16_file`` to ``quant`` with llama_cpp; if that fails, to q8_0, and say so in the report."""
    if quant not in QUANTS or QUANTS[quant] is None:
        raise ExportError(f"unknown quantization {quant!r} (choose from {', '.join(QUANTS)})")
    attempts = [quant] + ([FALLBACK_QUANT] if quant != FALLBACK_QUANT else [])
    failures = []
    for attempt in attempts:
        lines, code = _quantize_once(f16_file, out_file, attempt, threads)
        if code == 0:
            report = parse_quantize_log(lines, quant, attempt)
            if failures:
                report.note = (f"{quant} failed ({failures[0]}); wrote {attempt} instead. " + report.note).strip()
            return report
        failures.append(next((line for line in reversed(lines) if "error" in line.lower()), f"exit code {code}"))
    raise ExportError(f"quantizing {f16_file.name} failed: {failures[-1][:300]}", "try --quant f16")


def _quantize_once(f16_file: Path, out_file: Path, quant: str, threads: int | None) -> tuple[list[str], int]:
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTS[quant])
    params.nthread = threads or os.cpu_count() or 1
    partial = out_file.with_name(out_file.name + ".partial")
    with _LlamaLogCapture() as capture:
        code = llama_cpp.llama_model_quantize(str(f16_file).encode(), str(partial).encode(), ctypes.byref(params))
    if code == 0 and partial.exists():
        os.replace(partial, out_file)
    else:
        partial.unlink(missing_ok=True)
        code = code or 1
    return capture.lines(), code
