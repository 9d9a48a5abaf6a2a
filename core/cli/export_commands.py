"""Commands ``export RUN [--quant q4_k_m|q8_0|f16]`` and ``eval RUN``: both run a worker through the job runner.

The workers write into the run folder: ``RUN/export/`` (GGUF, Modelfile, smoke.json, export.json) and ``RUN/eval/``
(eval.json, blind_ab.jsonl, blind_ab_key.json). Each of those folders is also the job's own record (run.log,
metrics.jsonl, state.json), so the training run's curve and state stay untouched. ``run_job`` is the CLI's way to
drive any worker: progress on stderr, Ctrl+C asks the worker to stop cleanly.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from core.cli.base import CommandError, add_command
from core.jobs.events import Event, JobFailed, JobFinished, JobStarted, LogLine, ProgressReported
from core.jobs.log_lines import RUNNER_PREFIX, lines_for

QUANTS = ("q4_k_m", "q8_0", "f16")


def register(subparsers) -> None:
    export = add_command(subparsers, "export", handle_export, human=human_export,
                         help="merge a run's LoRA adapter, convert to GGUF, quantize, smoke-test; writes RUN/export/")
    export.add_argument("run", metavar="RUN", help="run id (or a unique prefix, 'latest', or the run folder)")
    export.add_argument("--quant", choices=QUANTS, default="q4_k_m", help="quantization (default q4_k_m)")
    export.add_argument("--keep-f16", action="store_true", help="keep the f16 GGUF next to the quantized one")
    evaluate = add_command(subparsers, "eval", handle_eval, human=human_eval,
                           help="score a run per persona on its test split; writes RUN/eval/ with a blind A/B file")
    evaluate.add_argument("run", metavar="RUN", help="run id (or a unique prefix, 'latest', or the run folder)")
    evaluate.add_argument("--limit", type=int, default=20, metavar="N", help="test examples per persona (0 = all)")
    evaluate.add_argument("--max-new-tokens", type=int, default=48, metavar="N", help="longest generated reply")
    evaluate.add_argument("--no-base-replies", action="store_true",
                          help="do not generate with the base model (faster; base perplexity is still measured)")
    evaluate.add_argument("--backend", choices=("auto", "gguf", "transformers"), default="auto",
                          help="auto (default): the run's exported GGUF in llama.cpp when it has one, else transformers")


def resolve_run(context, reference: str) -> Path:
    from core.jobs.runs import RunNotFound, find_run
    try:
        return find_run(context.workspace.runs_dir, reference)
    except RunNotFound as exc:
        raise CommandError(str(exc)) from None


def refuse_stale(context, run_dir: Path, action: str) -> None:
    """A run built from text of someone who opted out or was forgotten is not exported or evaluated (one line)."""
    from core.training.artifacts import run_stale_message
    refusal = run_stale_message(context.db, run_dir)
    if refusal:
        raise CommandError(f"cannot {action}: {refusal}")


def run_job(context, name: str, worker_args: list[str], job_dir: Path,
            on_event: Callable[[Event], None] | None = None) -> dict:
    """Run worker ``name`` to its end, showing progress on stderr; its JobFinished result, or CommandError."""
    from core.jobs.bus import EventBus
    from core.jobs.runner import JobRunner, JobSpec, new_job_id, worker_argv
    from core.jobs.runs import effective_status, read_state
    state = read_state(job_dir)
    if effective_status(state) in ("running", "stopping"):  # two workers writing one folder would mix their files
        raise CommandError(f"a {name} job is already writing {job_dir} (pid {state.get('pid')}); wait for it to end")
    job_dir.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    job_id = new_job_id(name)
    subscription = bus.subscribe("cli", job_id=job_id)
    job = JobRunner(bus).start(JobSpec(name=name, argv=worker_argv(name, *worker_args), run_dir=job_dir),
                               job_id=job_id)
    ending, interrupts = None, 0
    with context.progress(description=name, unit="step") as bar, subscription:
        while ending is None or subscription.pending():
            try:
                for event in subscription.drain(timeout=0.5):
                    ending = ending or (event if isinstance(event, (JobFinished, JobFailed)) else None)
                    show_event(context, name, event, bar)
                    if on_event:
                        on_event(event)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 1:
                    context.say(f"stopping the {name} worker after its current step (Ctrl+C again to end it now)")
                    job.stop()
                else:
                    job.kill()
    job.wait()
    if isinstance(ending, JobFailed):
        advice = f" ({ending.advice})" if ending.advice else ""
        raise CommandError(f"{ending.message}{advice}; log: {job_dir / 'run.log'}")
    if ending.status != "finished":
        raise CommandError(f"the {name} job was stopped before it finished; log: {job_dir / 'run.log'}")
    return dict(ending.result)


def show_event(context, name: str, event: Event, bar) -> None:
    """Worker output for a person: its phases in the words of run.log (``core.jobs.log_lines``) and the worker's own
    lines; library noise only with --debug."""
    for line in ([] if isinstance(event, LogLine) else lines_for(event)):
        if line.startswith(RUNNER_PREFIX):
            continue  # the runner's timestamped notes stay in run.log
        if bar.disable:
            context.say(line)
        else:
            bar.write(line, file=sys.stderr)
    if isinstance(event, JobStarted):
        bar.total = event.total_steps
    elif isinstance(event, ProgressReported):
        bar.total = event.total
        bar.n = event.step
        if event.message and not bar.disable:
            bar.set_description_str(f"{name}: {event.message}"[:60], refresh=False)
        bar.refresh()  # without a terminal the worker's own lines below carry the phases
    elif isinstance(event, LogLine) and event.text.strip():
        if event.stream == "stdout" or context.debug:
            if bar.disable:
                context.say(f"  {event.text}")
            else:
                bar.write(f"  {event.text}", file=sys.stderr)


def handle_export(args, context) -> dict:
    run_dir = resolve_run(context, args.run)
    refuse_stale(context, run_dir, "export")
    context.say(f"exporting run {run_dir.name} ({args.quant})")
    worker_args = ["--run-dir", str(run_dir), "--quant", args.quant] + (["--keep-f16"] if args.keep_f16 else [])
    result = run_job(context, "export", worker_args, run_dir / "export")
    if not result.get("smoke_passed"):
        raise CommandError(f"the smoke test failed ({result.get('smoke_failure')}); the GGUF is at {result['gguf']}, "
                           f"details in {result['smoke_file']}")
    return result


def human_export(result: dict) -> str:
    size = result["gguf_bytes"] / 2**20
    lines = [f"GGUF: {result['gguf']} ({size:.1f} MiB, {result['quant']})",
             f"Ollama Modelfile: {result['modelfile']}",
             f"merged model folder: {result['merged_dir']}",
             f"smoke test: passed (stop rate {result['stop_rate']:.0%}); details in {result['smoke_file']}"]
    note = result.get("quantization", {}).get("note")
    if note:
        lines.append(f"note: {note}")
    if result.get("adapter_note") and result["adapter_note"] != "final adapter":
        lines.append(f"note: exported from {result['adapter_note']}")
    return "\n".join(lines)


def handle_eval(args, context) -> dict:
    if args.limit < 0 or args.max_new_tokens < 1:
        raise CommandError("--limit must be 0 or more and --max-new-tokens at least 1", exit_code=2)
    run_dir = resolve_run(context, args.run)
    refuse_stale(context, run_dir, "evaluate")
    context.say(f"evaluating run {run_dir.name}")
    worker_args = ["--run-dir", str(run_dir), "--limit", str(args.limit), "--max-new-tokens", str(args.max_new_tokens)]
    if args.no_base_replies:
        worker_args.append("--no-base-replies")
    worker_args += ["--backend", args.backend]
    return run_job(context, "eval", worker_args, run_dir / "eval")


def human_eval(result: dict) -> str:
    overall = result["overall"]
    tuned = overall.get("tuned", {})
    lines = [f"evaluated {result['examples']} examples of {result['personas']} personas",
             f"perplexity: tuned {overall['perplexity']['tuned']} vs base {overall['perplexity']['base']}",
             f"style similarity (tuned): {tuned.get('style_similarity', {}).get('centroid')} centroid, "
             f"{tuned.get('style_similarity', {}).get('paired_mean')} paired",
             f"assistant-speak rate (tuned): {tuned.get('assistant_speak', {}).get('rate')}; "
             f"verbatim copies: {tuned.get('regurgitation', {}).get('rate')}",
             f"full report: {result['eval_file']}",
             f"blind A/B: {result['blind_ab']} (key: {result['blind_ab_key']})"]
    if result.get("stopped_early"):
        lines.insert(0, "stopped early: the figures cover the examples done")
    return "\n".join(lines)
