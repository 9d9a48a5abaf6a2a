"""The training run's phases in words (``core.jobs.log_lines`` dispatches here): the plan, loading, the dataset,
SFT, evaluation, saving, DPO and the closing summary. Each function takes one event and returns its lines; the
``details`` keys they read are the ones ``model.training_run`` and ``model.training_report`` send. A key that is
missing (an older worker, a stop before the figure existed) leaves its part out rather than failing.
Export, evaluation and embedding phases are worded in ``core.jobs.log_phases_jobs``.
"""
from __future__ import annotations

from typing import Any

from core.jobs import log_phases_jobs
from core.jobs.log_words import (count, counted, duration, number, parameters, phase_label, share, short_path,
                                 size)

KINDS = {"gguf": "GGUF file, dequantized for training", "folder": "Hugging Face folder", "hub": "Hugging Face Hub"}
BACKENDS = {"peft": "PEFT + TRL", "unsloth": "Unsloth"}


def training_plan(event) -> list[str]:
    details = event.details
    if "effective_batch" not in details:  # a run recorded before the plan was sent
        return [f"training on {event.device} with {event.backend} ({details.get('precision')}, "
                f"{counted(details.get('examples'), 'example')}, {counted(event.total_steps, 'step')})"]
    resumed = (f"resuming at step {count(event.resumed_from_step)} of {count(event.total_steps)}: "
               if event.resumed_from_step else "")
    epochs, rate = details.get("epochs"), details.get("learning_rate")
    first = (f"{resumed}plan: {counted(event.total_steps, 'SFT step')}"
             + (f" = {epochs:.2f} epochs" if isinstance(epochs, (int, float)) else "")
             + f" at effective batch {details['effective_batch']} ({details.get('per_device_batch')} per device × "
             f"{details.get('accumulation')} accumulation{_times_processes(details.get('processes'))}), "
             f"lr {_rate(rate)}"
             + (f" {details['scheduler']}" if details.get("scheduler") else ""))
    steps = details.get("eval_steps")
    every = f"every {'step' if steps == 1 else counted(steps, 'step')} and " if steps else ""
    evaluation = (f"evaluation {every}at the end on {counted(details['eval_examples'], 'example')}"
                  if details.get("eval_examples") else "no evaluation (no validation split)")
    dpo = details.get("dpo_steps")
    save = details.get("save_steps")
    second = (f"{evaluation}; checkpoints every {'step' if save == 1 else counted(save, 'step')}, newest "
              f"{count(details.get('save_total_limit'))} kept; "
              + (f"then DPO, {counted(dpo, 'step')}" if dpo else "no DPO pass"))
    return [first, second]


def _times_processes(processes: Any) -> str:
    return f" × {processes} processes" if isinstance(processes, int) and processes > 1 else ""


def load_started(event) -> list[str]:
    details = event.details
    source = str(details.get("source", ""))
    where = short_path(source, 99).rsplit("/", 1)[0] if details.get("kind") == "gguf" else source
    model = (f"base model: {details.get('model')} ({KINDS.get(details.get('kind'), details.get('kind'))}"
             + (f", {size(details['bytes'])}" if details.get("bytes") else "") + f") from {where}")
    device = details.get("gpu") or ("the CPU" if details.get("device") == "cpu" else details.get("device"))
    backend = (f"backend: {BACKENDS.get(details.get('backend'), details.get('backend'))} LoRA on {device} "
               f"({details.get('why')}); {details.get('precision')} compute, {details.get('weights')} weights")
    return [model, backend]


def load_finished(event) -> list[str]:
    details = event.details
    lines = [f"loaded in {duration(event.seconds)}: {parameters(details.get('parameters'))} parameters, "
             f"{count(details.get('layers'))} layers"]
    if details.get("trainable") is not None:
        layers = details.get("lora_layers") or 0
        scope = f"the top {layers} of {count(details.get('layers'))} layers" if layers else "every layer"
        targets = details.get("targets") or []
        lines.append(f"LoRA r {details.get('lora_r')}, alpha {details.get('lora_alpha')} on {len(targets)} "
                     f"projections of {scope}: {parameters(details['trainable'])} trainable parameters "
                     f"({share(details['trainable'], details.get('parameters'))} of all)")
    return lines


def _split(stats: dict[str, Any], name: str, max_length: Any) -> str:
    if not stats or not stats.get("read"):
        return f"no {name}"
    text = f"{count(stats.get('kept'))} {name} examples"
    notes = []
    if stats.get("trimmed"):
        notes.append(f"{count(stats['trimmed'])} trimmed to fit {max_length} tokens")
    if stats.get("too_long"):
        notes.append(f"{count(stats['too_long'])} dropped as too long")
    return text + (f" ({', '.join(notes)})" if notes else "")


def data_finished(event) -> list[str]:
    details = event.details
    max_length = details.get("max_length", "max_length")
    lines = [f"dataset {details.get('dir', '')}: {_split(details.get('train') or {}, 'train', max_length)}, "
             f"{_split(details.get('val') or {}, 'validation', max_length)}"]
    tokens = (details.get("train") or {}).get("tokens")
    targets = details.get("target_tokens")
    text = f"tokens: {count(tokens)} in the train split" + (f", {count(targets)} of them targets" if targets else "")
    rows, kept = details.get("rows"), (details.get("train") or {}).get("kept")
    if details.get("packing") and rows:
        text += (f"; packed into {counted(rows, 'row')} of up to {max_length} tokens "
                 f"({kept / rows:.2f} examples per row)" if isinstance(kept, int) else "")
    elif rows:
        text += f"; {counted(rows, 'row')}, one example each (no packing)"
    lines.append(text)
    return lines


def sft_started(event) -> list[str]:
    first, last = event.details.get("first_step", 1), event.total
    if event.details.get("checkpoint"):
        return [f"SFT resumed from {short_path(event.details['checkpoint'], 1)}: steps {count(first)}-{count(last)}"]
    return [f"SFT: steps {count(first)}-{count(last)}"]


def _losses(details: dict[str, Any]) -> str:
    if details.get("first_loss") is None or details.get("last_loss") is None:
        return ""
    return f"loss {number(details['first_loss'])} → {number(details['last_loss'])}"


def sft_finished(event) -> list[str]:
    details = event.details
    step = count(details.get("step"))
    if details.get("stopped"):
        where = short_path(details["checkpoint"], 2) if details.get("checkpoint") else "no checkpoint"
        return [f"SFT stopped at step {step} as asked, after {duration(event.seconds)}: saved {where}; Resume "
                f"continues from step {step}"]
    losses = _losses(details)
    return [f"SFT done in {duration(event.seconds)}: step {step}" + (f", {losses}" if losses else "")]


def eval_started(event) -> list[str]:
    examples = event.details.get("examples")
    where = f" at step {count(event.details['step'])}" if event.details.get("step") else ""
    return [f"evaluating{where} on {count(examples)} validation examples…"]


def save_finished(event) -> list[str]:
    details = event.details
    after = f" after {phase_label(details['stage'])}" if details.get("stage") else ""
    return [f"adapter saved{after}: {details.get('path')} ({size(details.get('bytes'))})"]


def dpo_started(event) -> list[str]:
    details = event.details
    return [f"DPO: {counted(event.total, 'step')} on {counted(details.get('pairs'), 'preference pair')} (beta "
            f"{details.get('beta')}, lr {_rate(details.get('learning_rate'))}), from the SFT adapter"]


def _rate(value: Any) -> str:
    return f"{value:.2e}" if isinstance(value, (int, float)) else "?"


def dpo_finished(event) -> list[str]:
    details = event.details
    if details.get("skipped"):
        return [f"DPO skipped: {details['skipped']}"]
    if details.get("stopped"):
        return [f"DPO stopped at step {count(details.get('step'))} as asked: the adapter stays the SFT one"]
    margin = details.get("reward_margin")
    return [f"DPO done in {duration(event.seconds)}: {counted(details.get('steps'), 'step')}, {_losses(details)}"
            + (f", reward margin {margin:+.4f}" if isinstance(margin, (int, float)) else "")]


def run_finished(event) -> list[str]:
    details = event.details
    losses = _losses(details)
    if details.get("status") == "stopped":
        return [f"stopped after {duration(event.seconds)} at step {count(details.get('steps'))} of "
                f"{count(details.get('total_steps'))}" + (f": {losses}" if losses else "")
                + "; Resume continues from the last checkpoint"]
    parts = [counted(details.get("steps"), "SFT step"), f"{count(details.get('tokens'))} tokens trained"]
    if losses:
        parts.append(losses)
    if details.get("best_eval_loss") is not None:
        parts.append(f"best eval loss {number(details['best_eval_loss'])} at step "
                     f"{count(details.get('best_eval_step'))}")
    dpo = details.get("dpo") or {}
    dpo_text = ""
    if dpo.get("status") == "finished":
        dpo_text = f"; DPO {counted(dpo.get('steps'), 'step')}, {_losses(dpo)}"
    elif dpo.get("status"):
        dpo_text = f"; DPO {dpo['status']}"
    return [f"finished in {duration(event.seconds)}: {', '.join(parts)}{dpo_text}; adapter: {details.get('adapter')}"]


STARTED = {"load": load_started, "sft": sft_started, "eval": eval_started, "dpo": dpo_started,
           "data": lambda event: [f"reading the dataset in {event.details.get('dir')}…"],
           "save": lambda event: []}
FINISHED = {"load": load_finished, "data": data_finished, "sft": sft_finished, "save": save_finished,
            "dpo": dpo_finished, "run": run_finished, "eval": lambda event: []}


def started(event) -> list[str]:
    writer = STARTED.get(event.phase) or log_phases_jobs.STARTED.get(event.phase)
    return writer(event) if writer is not None else [f"{phase_label(event.phase)}…"]


def finished(event) -> list[str]:
    writer = FINISHED.get(event.phase) or log_phases_jobs.FINISHED.get(event.phase)
    if writer is not None:
        return writer(event)
    return [f"{phase_label(event.phase)} done" + (f" in {duration(event.seconds)}" if event.seconds is not None
                                                  else "")]
