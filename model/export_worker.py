"""The export worker: a finished (or stopped) training run → a GGUF the bot, llama.cpp and Ollama can load.

``python launcher.py --worker export --run-dir RUN [--quant q4_k_m|q8_0|f16] [--out DIR] [--prompts FILE]``

Steps, each reported as a progress event (the bar) and as a phase with its outcome (the log's words): merge the
LoRA adapter into the base (``export_merge``), convert to an f16 GGUF with llama.cpp's converter and quantize
(``export_gguf``), smoke-test the file in llama.cpp (``export_smoke``), write an Ollama Modelfile
(``export_modelfile``). Outputs go to ``RUN/export/``; ``export.json`` is written last, so
its presence means the export is complete. A stop request is honoured between steps. A stale run is refused, and the
output folder is registered as an artifact built from the run before anything is written.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from core.jobs import wire
from core.jobs.phase_clock import PhaseClock
from core.jobs.events import JobFailed, JobFinished, JobStarted, ProgressReported
from core.config.resources import ResourceMissing, llama_cpp_dir
from core.jobs.runs import read_config
from core.training.artifacts import register_run_output
from core.config.workspace import atomic_write_text
from model.export_gguf import QUANTS, QuantizeReport, convert_to_gguf, quantize
from model.export_merge import ExportError, merge_and_save
from model.export_modelfile import modelfile_text
from model.export_smoke import SmokePrompt, failure_summary, smoke_test
from model.smoke_prompts import default_prompts

STEPS = ("merging the adapter into the base", "converting to GGUF (llama.cpp)", "quantizing",
         "smoke-testing in llama.cpp", "writing the Ollama Modelfile")
EXPORT_DIR = "export"
MANIFEST = "export.json"
SMOKE_FILE = "smoke.json"


class Stopped(Exception):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="export worker")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--quant", choices=list(QUANTS), default="q4_k_m")
    parser.add_argument("--out", type=Path, help="output folder (default: RUN/export)")
    parser.add_argument("--prompts", type=Path, help="JSON list of {label, messages} to smoke-test and answer")
    parser.add_argument("--keep-f16", action="store_true", help="keep the f16 GGUF next to the quantized one")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    link = wire.link()
    started = time.monotonic()
    out = (args.out or args.run_dir / EXPORT_DIR).resolve()
    link.emit(JobStarted(name="export", backend="llama.cpp", device="cpu", total_steps=len(STEPS),
                         details={"quant": args.quant, "run_dir": str(args.run_dir), "out": str(out)}))
    try:
        manifest = export(args, out, link)
    except Stopped:
        link.emit(JobFinished(status="stopped", seconds=time.monotonic() - started))
        return 0
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr, flush=True)
        link.emit(JobFailed(message=str(exc), advice=exc.advice, exit_code=1))
        return 1
    except ResourceMissing as exc:
        link.emit(JobFailed(message=str(exc), advice="run `python install.py`", exit_code=1))
        return 1
    except Exception as exc:  # the runner gets one line; the traceback stays in the log
        return wire.report_unexpected(link, exc, "export", "see the export log (run.log in the export folder)")
    manifest["seconds"] = round(time.monotonic() - started, 1)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    link.emit(JobFinished(status="finished", step=len(STEPS), seconds=manifest["seconds"], result=manifest))
    return 0


def export(args: argparse.Namespace, out: Path, link: wire.WorkerLink) -> dict:
    run_dir = args.run_dir.resolve()
    config = read_config(run_dir)
    if not config:
        raise ExportError(f"{run_dir} is not a training run (no readable config.json)")
    refusal = register_run_output(run_dir, "export", out)  # before any file is written: a crash stays covered
    if refusal:
        raise ExportError(refusal)
    converter = llama_cpp_dir()
    (out / MANIFEST).unlink(missing_ok=True)  # an interrupted re-export must not look complete

    phases = PhaseClock(link)

    def step(index: int, phase: str, **details) -> None:
        if link.stop_requested():
            raise Stopped()
        link.emit(ProgressReported(step=index, total=len(STEPS), message=STEPS[index]))  # the bar; words below
        phases.start(phase, **details)

    step(0, "export.merge", base_model=config.get("base_model", {}).get("source", ""))
    merged_dir = out / "merged"
    shutil.rmtree(merged_dir, ignore_errors=True)
    merge_info = merge_and_save(run_dir, config, merged_dir)
    phases.finish("export.merge", out=str(merged_dir), adapter_note=merge_info["adapter_note"])
    step(1, "export.convert")
    f16_file = convert_to_gguf(merged_dir, out / "model-f16.gguf", converter, log=print)
    phases.finish("export.convert", path=str(f16_file), bytes=f16_file.stat().st_size)
    step(2, "export.quantize", quant=args.quant)
    gguf, report = quantize_step(args, out, f16_file)
    phases.finish("export.quantize", path=str(gguf), bytes=gguf.stat().st_size, produced=report.produced,
                  note=report.note)
    step(3, "export.smoke")
    smoke = run_smoke(gguf, merged_dir, run_dir, config, args.prompts)
    atomic_write_text(out / SMOKE_FILE, json.dumps(smoke, indent=2, ensure_ascii=False))
    phases.finish("export.smoke", passed=smoke["passed"], stop_rate=smoke["stop_rate"],
                  failure=None if smoke["passed"] else failure_summary(smoke), prompts=len(smoke["prompts"]))
    step(4, "export.modelfile")
    modelfile = out / "Modelfile"
    atomic_write_text(modelfile, modelfile_text(gguf.name, merge_info["chat_template"], merge_info["eos_token"]))
    phases.finish("export.modelfile", path=str(modelfile))
    return {"run_id": run_dir.name, "run_dir": str(run_dir), "out": str(out), "quant": report.produced,
            "quant_requested": args.quant, "gguf": str(gguf), "gguf_bytes": gguf.stat().st_size,
            "merged_dir": str(merged_dir), "modelfile": str(modelfile), "smoke_file": str(out / SMOKE_FILE),
            "smoke_passed": smoke["passed"], "smoke_failure": None if smoke["passed"] else failure_summary(smoke),
            "stop_rate": smoke["stop_rate"], "quantization": report.to_json(),
            "adapter": merge_info["adapter"], "adapter_note": merge_info["adapter_note"],
            "base_model": merge_info["base_model"]}


def quantize_step(args: argparse.Namespace, out: Path, f16_file: Path) -> tuple[Path, QuantizeReport]:
    """The quantized GGUF (named for the type it holds, which a fallback may change) and the report."""
    if args.quant == "f16":
        return f16_file, QuantizeReport(requested="f16", produced="f16")
    gguf = out / f"model-{args.quant}.gguf"
    report = quantize(f16_file, gguf, args.quant)
    atomic_write_text(out / "quantize.log", "\n".join(report.log) + "\n")
    if report.produced != args.quant:  # the fallback type: name the file for what it holds
        gguf = gguf.replace(out / f"model-{report.produced}.gguf")
    if not args.keep_f16:
        f16_file.unlink()
    return gguf, report


def run_smoke(gguf: Path, merged_dir: Path, run_dir: Path, config: dict, prompts_file: Path | None) -> dict:
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(merged_dir))
    prompts = default_prompts(config, run_dir)
    if prompts_file is not None:
        prompts += [SmokePrompt(item["label"], item["messages"])
                    for item in json.loads(prompts_file.read_text(encoding="utf-8"))]
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    return smoke_test(gguf, tokenizer, prompts)
