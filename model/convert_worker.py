"""The convert worker: llama.cpp's own GGUF converter (``convert_hf_to_gguf.py``) as a worker entry point.

``python launcher.py --worker convert [--converter-dir DIR] MERGED_DIR --outfile FILE --outtype f16``

The export worker starts this through ``core.jobs.specs.worker_argv`` like any other worker, so one path serves
source runs, the training runtime and the frozen app (where ``sys.executable`` is the app, not a Python that could
run a script). The converter runs in this process as ``__main__`` with its bundled gguf-py first on the path: the
PyPI ``gguf`` package lags behind it and fails on newer architectures. Its arguments pass through unchanged; its
exit status is ours.
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from core.config.resources import ResourceMissing, llama_cpp_dir

SCRIPT = "convert_hf_to_gguf.py"


def split_argv(argv: list[str]) -> tuple[Path | None, list[str]]:
    """(--converter-dir value or None, the converter's own arguments)."""
    if argv[:1] == ["--converter-dir"] and len(argv) >= 2:
        return Path(argv[1]), argv[2:]
    return None, list(argv)


def main(argv: list[str]) -> int:
    folder, converter_args = split_argv(argv)
    try:
        folder = folder or llama_cpp_dir()
    except ResourceMissing as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    script = folder / SCRIPT
    if not script.is_file():
        print(f"error: llama.cpp's converter is not at {script}; run `python install.py`", file=sys.stderr, flush=True)
        return 1
    os.environ.pop("NO_LOCAL_GGUF", None)  # the converter then puts its own gguf-py first, as we do here
    sys.path[:0] = [str(folder / "gguf-py"), str(folder)]
    sys.argv = [str(script), *converter_args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:  # argparse and the converter end with sys.exit
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr, flush=True)
        return 1
    return 0
