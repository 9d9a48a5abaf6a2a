"""Training throughput: our worker vs bare Unsloth SFT vs Hugging Face + PEFT + bitsandbytes QLoRA.

    python bench/train_bench.py            # on the GPU machine: Qwen2.5-3B shape, random bf16 weights, 4-bit
    python bench/train_bench.py --tiny     # anywhere (CPU): a tiny model, a few steps; checks that the script works
    python bench/train_bench.py --processes 1,2   # our worker on 1 and 2 data-parallel processes (GPUs, or CPU
                                                  # processes without CUDA): bench/train_processes.py

Each configuration runs in its own process (clean peak-memory figures), on the same synthetic Discord-like chats
(a system line, 1-5 "Name: text" user turns, a short assistant reply) in the prepared-dataset format, with LoRA
r=64/alpha=128 on all seven projections, batch 8, max length 1024 (see ../shared/gpu/ANCHORS.md). Our worker runs
for real: through the job runner, in a run folder, reporting over the wire protocol. Steady state is measured over
the steps after the warm-up: tokens/s counts real (non-padding) tokens. Figures are printed and written to
bench/out/train_bench.json; nothing here gates CI.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QWEN_3B = {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
           "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
           "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 49152, "tie_word_embeddings": True, "max_position_embeddings": 2048}
NAMES = ["kayla", "dev0x", "mothman", "ren", "sasha", "bigpoppa", "quinn", "lurker42"]
PHRASES = ["lmao", "no way", "did anyone see the patch notes", "gg", "that's cursed", "brb food", "ok but why",
           "ranked is pain today", "who's on tonight", "send the clip", "real", "i'm never touching that map again",
           "bro what 💀", "the new skin is actually fire", "ping me when you're on", "skill issue tbh"]
RUNS = [("worker", True), ("worker", False), ("unsloth", True), ("unsloth", False), ("hf_bnb", False)]


def write_chats(folder: Path, count: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.jsonl").open("w", encoding="utf-8") as out:
        for index in range(count):
            persona = rng.choice(NAMES)
            messages = [{"role": "system", "content": f"You are {persona}, chatting in #general of Bench Server."}]
            for _ in range(rng.randint(1, 5)):
                words = " ".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 3)))
                messages.append({"role": "user", "content": f"{rng.choice(NAMES)}: {words}"})
            messages.append({"role": "assistant", "content": " ".join(rng.choice(PHRASES)
                                                                      for _ in range(rng.randint(1, 3)))})
            out.write(json.dumps({"messages": messages, "meta": {"persona_id": str(index % 8)}}) + "\n")
    return folder


def make_model(folder: Path, shape: dict, tokenizer_source: Path) -> Path:
    """A random-weight model of the given shape with SmolLM2's real tokenizer, saved as a Hugging Face folder.

    The architecture is Llama's with Qwen2.5-3B's dimensions (ANCHORS.md measured Qwen2, whose only difference is
    a bias on q/k/v: the same FLOPs to within 0.1%). Not Qwen2 itself: transformers 5 loads any tokenizer saved next
    to a qwen2 config as Qwen2Tokenizer, whose pre-tokenizer differs from SmolLM2's, and llama.cpp's converter then
    refuses the export ("BPE pre-tokenizer was not recognized").
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    if (folder / "config.json").exists():
        return folder
    if tokenizer_source.is_dir():  # a Hugging Face tokenizer folder (bench/device_prep.sh carries one to the GPU box)
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source.parent), gguf_file=tokenizer_source.name)
    config = LlamaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def steady(samples: list[tuple[int, float, float, float | None]], warmup: int) -> dict:
    """From (step, seconds, cumulative tokens, peak GiB) samples: seconds/step, tokens/step, tokens/s, peak."""
    after = [sample for sample in samples if sample[0] >= warmup]
    if len(after) < 2:
        return {"error": f"only {len(samples)} steps measured"}
    (step0, time0, tokens0, _), (step1, time1, tokens1, _) = after[0], after[-1]
    seconds = (time1 - time0) / (step1 - step0)
    tokens = (tokens1 - tokens0) / (step1 - step0)
    peaks = [sample[3] for sample in samples if sample[3] is not None]
    return {"seconds_per_step": round(seconds, 3), "tokens_per_step": round(tokens, 1),
            "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
            "peak_vram_gb": round(max(peaks), 2) if peaks else None}


def run_worker(model: Path, data: Path, work: Path, args, packing: bool, processes: int = 1,
               overrides: dict | None = None, cpu_seconds=None) -> dict:
    """Our real worker through the job runner (a run folder in a scratch workspace), on ``processes`` processes;
    ``cpu_seconds(pid)``, when given, is sampled at each step (CPU time of the worker's process tree)."""
    from core.jobs.bus import EventBus
    from core.jobs.events import JobFailed, JobFinished, JobStarted, ProgressReported
    from core.jobs.runner import JobRunner
    from core.training.launch import LaunchError, plan_new_run, training_job
    from core.config.workspace import Workspace
    workspace = Workspace.open(work / f"ws-{'packed' if packing else 'padded'}{f'-p{processes}' * (processes > 1)}")
    flags = {"max_steps": args.steps, "packing": packing, "per_device_batch_size": args.batch,
             "gradient_accumulation_steps": 1, "max_length": args.max_length, "lora_r": args.rank,
             "lora_alpha": args.rank * 2, "lora_layers": 0, "save_steps": 10_000, "dpo": False,
             "warmup_steps": 0, "gradient_checkpointing": not args.tiny,
             "precision": "fp32" if args.tiny else "auto",  # the CPU baselines run fp32 too
             **(overrides or {})}
    try:
        planned = plan_new_run(workspace, base=str(model), data=str(data), preset=args.preset, flags=flags,
                               processes=processes)
    except LaunchError as exc:
        return {"error": f"skipped: {exc}"}
    bus = EventBus()
    subscription = bus.subscribe("bench")
    job = JobRunner(bus).start(training_job(planned))
    samples, backend, deadline, cpu = [], None, time.monotonic() + args.timeout, {}
    while time.monotonic() < deadline:
        for event in subscription.drain(timeout=0.5):
            if isinstance(event, JobStarted):
                backend = event.backend
                if processes > 1 and event.details.get("processes") != processes:
                    job.kill()
                    return {"error": f"started {event.details.get('processes')} processes, not {processes}"}
            elif isinstance(event, ProgressReported) and not event.is_phase and event.tokens is not None:
                samples.append((event.step, event.elapsed, event.tokens, event.vram_peak))
                if cpu_seconds is not None:
                    cpu[event.step] = cpu_seconds(job.process.pid)
            elif isinstance(event, JobFailed):
                return {"error": f"{event.message} {event.advice}", "last_lines": list(event.last_lines)[-5:]}
            elif isinstance(event, JobFinished):
                return {"backend": backend, **steady(samples, args.warmup), **({"cpu_by_step": cpu} if cpu else {})}
    job.kill()
    return {"error": f"timed out after {args.timeout}s"}


def run_child(kind: str, packing: bool, model: Path, data: Path, args) -> dict:
    """A bare baseline in its own process (this script with --child)."""
    command = [sys.executable, __file__, "--child", kind, "--model", str(model), "--data", str(data),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch),
               "--max-length", str(args.max_length), "--rank", str(args.rank)] + (["--packing"] if packing else [])
    command += ["--tiny"] if args.tiny else []
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout}s"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1][len("RESULT "):])


def child_main(args) -> int:
    """Bare Unsloth SFT or bare HF + PEFT (+ bitsandbytes 4-bit on CUDA), timed with a callback."""
    if args.child == "unsloth":
        import unsloth  # noqa: F401  (before transformers, as its docs require)
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer
    cuda = torch.cuda.is_available()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    if args.child == "unsloth":
        from unsloth import FastLanguageModel
        model, tokenizer = FastLanguageModel.from_pretrained(str(args.model), max_seq_length=args.max_length,
                                                             load_in_4bit=True, dtype=torch.bfloat16)
        model = FastLanguageModel.get_peft_model(model, r=args.rank, lora_alpha=args.rank * 2, lora_dropout=0.0,
                                                 target_modules=targets, use_gradient_checkpointing="unsloth")
    else:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
        tokenizer = AutoTokenizer.from_pretrained(str(args.model))
        kwargs = {"dtype": torch.bfloat16 if cuda else torch.float32}
        if cuda:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                               bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(str(args.model), device_map={"": 0} if cuda else None, **kwargs)
        if cuda:
            model = prepare_model_for_kbit_training(model)
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.rank * 2, target_modules=targets,
                                                 task_type="CAUSAL_LM"))
    rows = [json.loads(line)["messages"] for line in (args.data / "train.jsonl").open(encoding="utf-8")]
    dataset = Dataset.from_list([{"prompt": messages[:-1], "completion": messages[-1:]} for messages in rows])
    samples: list = []

    class Timer(TrainerCallback):
        def on_log(self, train_args, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs:
                peak = torch.cuda.max_memory_allocated() / 1024 ** 3 if cuda else None
                samples.append((state.global_step, time.monotonic(), float(logs["num_tokens"]), peak))

    config = SFTConfig(output_dir=tempfile.mkdtemp(), max_steps=args.steps, per_device_train_batch_size=args.batch,
                       learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to="none",
                       max_length=args.max_length, packing=args.packing, bf16=cuda, use_cpu=not cuda,
                       optim="adamw_8bit" if cuda else "adamw_torch", disable_tqdm=True,
                       gradient_checkpointing=cuda and args.child != "unsloth")
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[Timer()])
    trainer.train()
    print("RESULT " + json.dumps({"backend": args.child, **steady(samples, args.warmup)}), flush=True)
    return 0


def machine() -> dict:
    import torch
    info = {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (no CUDA)"}
    for name in ("transformers", "trl", "peft", "bitsandbytes", "unsloth"):
        try:
            info[name] = __import__(name).__version__
        except Exception:
            info[name] = "not installed"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model and a few steps (CPU smoke run)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    parser.add_argument("--only", nargs="*", help="run kinds to keep: worker unsloth hf_bnb")
    parser.add_argument("--runs", nargs="*", help="exact runs to keep, e.g. worker-packed unsloth-packed hf_bnb")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer for the random model: a GGUF file or an HF folder "
                                                       "(default: the offline SmolLM2 GGUF)")
    parser.add_argument("--out", type=Path, help="where to write the JSON results (default bench/out/train_bench.json)")
    parser.add_argument("--processes", help="compare our worker on these process counts, e.g. 1,2 (GPUs when "
                                            "CUDA is there, else CPU processes); see bench/train_processes.py")
    parser.add_argument("--child", choices=["unsloth", "hf_bnb"], help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--packing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.processes:  # its own defaults: the CPU runs a real small model (bench/train_processes.py)
        from bench.train_processes import run_processes
        return run_processes(args)
    defaults = (6, 2, 2, 256, 8) if args.tiny else (30, 10, 8, 1024, args.rank)
    args.steps, args.warmup, args.batch, args.max_length = (
        args.steps or defaults[0], args.warmup or defaults[1], args.batch or defaults[2],
        args.max_length or defaults[3])
    args.rank = defaults[4] if args.tiny else args.rank
    args.preset = "cpu-tiny" if args.tiny else "vram-24gb"
    if args.child:
        return child_main(args)
    return run_all(args)


def run_all(args) -> int:
    import torch
    from core.config.resources import default_base_model
    info = machine()
    print(f"train_bench on {info['device']} ({'tiny smoke run' if args.tiny else 'Qwen2.5-3B shape, random weights'}"
          f"), {info['date']}", flush=True)
    work = ROOT / "bench" / "out" / "train_bench"
    model = make_model(work / ("model-tiny" if args.tiny else "model-qwen3b"), TINY if args.tiny else QWEN_3B,
                       args.tokenizer or default_base_model())
    data = write_chats(work / "data", 200 if args.tiny else args.examples)
    results = {}
    for kind, packing in RUNS:
        name = f"{kind}{' packed' if packing else ''}"
        if args.only and kind not in args.only:
            continue
        if args.runs and name.replace(" ", "-") not in args.runs:
            continue
        if kind == "unsloth" and not torch.cuda.is_available():
            results[name] = {"error": "skipped: Unsloth needs CUDA"}
            continue
        print(f"--- {name}", flush=True)
        results[name] = (run_worker(model, data, work, args, packing) if kind == "worker"
                         else run_child(kind, packing, model, data, args))
        print(f"    {results[name]}", flush=True)
    report(info, args, results, args.out or work.parent / "train_bench.json")
    return 0


def report(info: dict, args, results: dict, path: Path) -> None:
    print(f"\nmachine: {json.dumps(info)}")
    print(f"steps {args.steps} (steady state after {args.warmup}), batch {args.batch}, max length {args.max_length}")
    print(f"{'run':<18} {'s/step':>8} {'tokens/step':>12} {'tokens/s':>10} {'peak VRAM GB':>13}")
    for name, result in results.items():
        if "error" in result:
            print(f"{name:<18} {result['error']}")
            continue
        print(f"{name:<18} {result['seconds_per_step']:>8} {result['tokens_per_step']:>12} "
              f"{result['tokens_per_second']:>10} {result['peak_vram_gb'] if result['peak_vram_gb'] else '-':>13}")
    rate = {name: result.get("tokens_per_second") for name, result in results.items()}
    for ours, theirs in (("worker packed", "unsloth packed"), ("worker packed", "hf_bnb"), ("worker", "unsloth")):
        if rate.get(ours) and rate.get(theirs):
            print(f"ratio {ours} / {theirs}: {rate[ours] / rate[theirs]:.2f}x")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "settings": {k: v for k, v in vars(args).items()
                                                              if isinstance(v, (int, str, bool, type(None)))},
                                "results": results}, indent=2), encoding="utf-8")
    print(f"written: {path}")


if __name__ == "__main__":
    sys.exit(main())
