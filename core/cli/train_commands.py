"""Commands ``train`` (start or resume a LoRA run in a worker process) and ``runs list|show|compare``.

``train`` runs the job runner in this process and follows the worker's events: the run's log on stderr, in the
words of run.log and the panel (``core.jobs.log_lines``), under a progress bar on a terminal, and with ``--json`` one
summary object at the end (``train --cloud``: the same on a rented GPU, ``core.cli.cloud_train``). Ctrl+C asks the
worker to stop at its next step boundary (it saves a checkpoint; ``--resume RUN`` continues); a second Ctrl+C ends it
at once. ``--gpus N`` trains data parallel on N GPUs of this machine (``core.training.processes``; Linux), also when
resuming a run started with another N.
"""
from __future__ import annotations

import sys
import time

from core.jobs import runs
from core.jobs.bus import EventBus
from core.cli.base import CommandError, add_command, add_group
from core.cli.cloud_train import add_cloud_options, run_cloud_train
from core.jobs.events import EvalReported, JobFailed, JobFinished, JobStarted, LogLine, ProgressReported
from core.jobs.log_lines import RUNNER_PREFIX, lines_for
from core.jobs.runner import JobRunner, new_job_id
from core.config.training import available_presets
from core.training import vram
from core.training.launch import LaunchError, plan_new_run, plan_resume, training_job


def register(subparsers) -> None:
    train = add_command(subparsers, "train", run_train, help="train a LoRA adapter on the prepared dataset",
                        human=human_summary)
    train.add_argument("--base", metavar="MODEL", help="base model: a .gguf file, a Hugging Face folder or hub id "
                                                       "(default: the offline SmolLM2-135M-Instruct)")
    train.add_argument("--data", metavar="DIR", help="dataset folder from `prepare` (default: the latest)")
    train.add_argument("--preset", choices=available_presets() or None, help="hardware preset (default: by GPU "
                                                                             "memory, cpu-tiny without a GPU)")
    train.add_argument("--resume", metavar="RUN", help="continue a stopped or interrupted run from its checkpoint")
    train.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps in total")
    train.add_argument("--gpus", type=int, metavar="N", help="GPUs to train on, one process each, data parallel "
                                                             "through accelerate launch (default: all visible; more "
                                                             "than one on Linux only; a resumed run may change it)")
    add_cloud_options(train)
    run_commands = add_group(subparsers, "runs", "training runs in the workspace")
    add_command(run_commands, "list", list_runs, help="list runs, newest first", human=human_list)
    show = add_command(run_commands, "show", show_run, help="one run's state, curve and outputs")
    show.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    compare = add_command(run_commands, "compare", compare_runs, human=human_compare,
                          help="two or more runs side by side: the knobs that differ, dataset, speed, losses, eval")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run ids, unique prefixes, or 'latest'")


def run_train(args, context) -> dict:
    if args.max_steps is not None and args.max_steps < 1:
        raise CommandError("--max-steps must be at least 1", exit_code=2)
    if args.cloud:
        if args.gpus is not None:
            raise CommandError("--gpus counts this machine's GPUs: a --cloud run trains on the rented one (drop "
                               "--gpus)", exit_code=2)
        return run_cloud_train(args, context, follow, summary)
    try:
        if args.resume:
            if args.base or args.data or args.preset:
                raise CommandError("--resume continues a run as it was: drop --base, --data and --preset",
                                   exit_code=2)
            vram.detect_gpu_memory_gb(wait=vram.CLI_PROBE_WAIT_SECONDS)  # the GPU count for the run's own count
            planned = plan_resume(context.workspace, args.resume, max_steps=args.max_steps, processes=args.gpus)
        else:
            context.config  # validates config.toml (one clear line when it is wrong)
            vram.detect_gpu_memory_gb(wait=vram.CLI_PROBE_WAIT_SECONDS)  # warm the cache plan_new_run reads
            planned = plan_new_run(context.workspace, base=args.base, data=args.data, preset=args.preset,
                                   flags={"max_steps": args.max_steps}, processes=args.gpus)
    except LaunchError as exc:
        raise CommandError(str(exc)) from None
    context.say(f"{'resuming' if planned.resume else 'starting'} run {planned.run_id} "
                f"(preset {planned.preset or 'custom'}) in {planned.run_dir}")
    if planned.estimate:
        context.say(f"memory estimate: {planned.estimate.total_gb:.1f} GB on {planned.estimate.device}"
                    + (" per GPU" if planned.processes > 1 else ""))
    if planned.processes > 1:
        context.say(f"{planned.processes} processes, data parallel (accelerate launch)")
    for warning in planned.warnings:
        context.say(f"warning: {warning}")
    started = time.monotonic()
    ending = follow(context, training_job(planned), debug=context.debug)
    return summary(planned.run_dir, ending, time.monotonic() - started)


def follow(context, spec, *, debug: bool):
    """Run the job and show its events until it ends; returns the ending event."""
    bus = EventBus()
    job_id = new_job_id(spec.name)
    subscription = bus.subscribe("cli", job_id=job_id)
    job = JobRunner(bus).start(spec, job_id=job_id)
    view = ProgressView(context, debug)
    interrupts = 0
    try:
        while True:
            try:
                for event in subscription.drain(timeout=0.5):
                    view.show(event)
                    if isinstance(event, (JobFinished, JobFailed)):
                        job.wait(30)
                        return event
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 1:
                    context.say("stopping at the next step boundary (Ctrl+C again to end it now)")
                    job.stop()
                else:
                    job.kill()
    finally:
        view.close()
        subscription.close()
        if job.running:
            job.kill()


class ProgressView:
    """The run's log on stderr, worded as run.log and the panel word it (``core.jobs.log_lines``), above a
    progress bar on a terminal; the worker's own lines (library output) only with --debug."""

    def __init__(self, context, debug: bool) -> None:
        self.context, self.debug = context, debug
        self.bar = None
        self.tty = sys.stderr.isatty()

    def show(self, event) -> None:
        if isinstance(event, LogLine):
            if self.debug:
                self.say(f"  | {event.text}")
            return
        for line in lines_for(event):
            if not line.startswith(RUNNER_PREFIX):  # the runner's notes with their timestamps stay in run.log
                self.say(line)
        if isinstance(event, JobStarted) and self.tty and self.bar is None:
            self.bar = self.context.progress(total=event.total_steps, description="training", unit="step")
            self.bar.update(event.resumed_from_step or 0)
        elif isinstance(event, ProgressReported) and self.bar is not None and event.stage in ("", "sft"):
            self.bar.n = event.step
            self.bar.refresh()

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            self.context.say(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(run_dir, ending, seconds: float) -> dict:
    if isinstance(ending, JobFailed):
        advice = f" — {ending.advice}" if ending.advice else ""
        raise CommandError(f"training failed: {ending.message}{advice} (log: {run_dir / runs.LOG_FILE})")
    result = dict(ending.result)
    state = runs.read_state(run_dir)
    return {"run_id": run_dir.name, "run_dir": str(run_dir), "status": ending.status,
            "steps": result.get("step", state.get("step")), "final_loss": result.get("final_loss", state.get("loss")),
            "eval_loss": result.get("eval_loss"), "backend": result.get("backend", state.get("backend")),
            "device": result.get("device", state.get("device")), "adapter": result.get("adapter"),
            "dpo": result.get("dpo"), "seconds": round(seconds, 1)}


def human_summary(result: dict) -> str:
    if result["status"] == "task-written":
        return f"task written (not launched): {result['task']}"
    if result["status"] == "stopped":
        return (f"stopped at step {result['steps']}; continue with: launcher.py train --resume {result['run_id']}")
    return (f"finished {result['steps']} steps in {result['seconds']:.0f}s, loss {result['final_loss']}; "
            f"adapter: {result['adapter']}")


def list_runs(args, context) -> dict:
    return {"runs": [info.to_json() for info in runs.list_runs(context.workspace.runs_dir)]}


def human_list(result: dict) -> str:
    if not result["runs"]:
        return "no runs yet (start one with: launcher.py train)"
    return "\n".join(f"{run['run_id']}  {run['status']:<11} step {run['step'] or 0}/{run['total_steps'] or '?'}  "
                     f"loss {run['final_loss'] if run['final_loss'] is not None else '-'}" for run in result["runs"])


def show_run(args, context) -> dict:
    try:
        run_dir = runs.find_run(context.workspace.runs_dir, args.run)
    except runs.RunNotFound as exc:
        raise CommandError(str(exc)) from None
    events = runs.read_metrics(run_dir)
    curve = [[event.step, event.loss] for event in events
             if isinstance(event, ProgressReported) and event.loss is not None and event.message in ("", "sft")]
    evals = [[event.step, event.eval_loss] for event in events if isinstance(event, EvalReported)]
    return {**runs.run_info(run_dir).to_json(), "config": runs.read_config(run_dir), "loss_curve": curve,
            "eval_loss": evals, "checkpoints": [str(path) for path in runs.checkpoints(run_dir)],
            "adapter": str(run_dir / runs.ADAPTER_DIR) if (run_dir / runs.ADAPTER_DIR).is_dir() else None}


def compare_runs(args, context) -> dict:
    from core.training import compare
    try:
        return compare.comparison_json(compare.compare_runs(context.workspace.runs_dir, args.runs))
    except runs.RunNotFound as exc:
        raise CommandError(str(exc)) from None
    except compare.CompareError as exc:
        raise CommandError(str(exc), exit_code=2) from None


def human_compare(result: dict) -> str:
    from core.training.compare import format_table
    return format_table([run["run_id"] for run in result["runs"]],
                        [(row["label"], row["values"]) for row in result["table"]])
