"""The export, evaluation and embedding jobs' phases in words (``core.jobs.log_phases`` falls back here). The
``details`` keys are the ones ``model.export_worker``, ``model.eval_worker`` and ``model.embed_worker`` send."""
from __future__ import annotations

from core.jobs.log_words import count, counted, duration, size, short_path


def _took(event) -> str:
    return f" in {duration(event.seconds)}" if event.seconds is not None else ""


def _file(details) -> str:
    return f"{short_path(details.get('path', ''), 1)} ({size(details.get('bytes'))})"


def quantized(event) -> list[str]:
    details = event.details
    lines = [f"quantized to {details.get('produced')}{_took(event)}: {_file(details)}"]
    if details.get("note"):
        lines.append(f"note: {details['note']}")
    return lines


def smoke_finished(event) -> list[str]:
    details = event.details
    verdict = "passed" if details.get("passed") else f"FAILED: {details.get('failure')}"
    rate = details.get("stop_rate")
    figures = f" ({counted(details.get('prompts'), 'prompt')}, stop rate {rate:.0%})" if isinstance(rate, float) else ""
    return [f"smoke test {verdict}{_took(event)}{figures}"]


def eval_loaded(event) -> list[str]:
    details = event.details
    model = f" ({details['model']})" if details.get("model") else ""
    return [f"evaluation models loaded{_took(event)}: {details.get('backend')} on {details.get('device')}{model}"]


def scored(event) -> list[str]:
    details = event.details
    if details.get("stopped"):
        return [f"scoring stopped as asked after {counted(details.get('examples'), 'example')}: the report covers "
                "those"]
    return [f"scored {counted(details.get('examples'), 'example')}{_took(event)}"]


def encoded(event) -> list[str]:
    details = event.details
    stopped = " (stopped as asked: the rest waits for the next run)" if details.get("stopped") else ""
    return [f"embedded {counted(details.get('embedded'), 'message')}{_took(event)}{stopped}"]


STARTED = {
    "export.merge": lambda event: [f"merging the adapter into the base model {event.details.get('base_model', '')}…"],
    "export.convert": lambda event: ["converting the merged model to an f16 GGUF with llama.cpp…"],
    "export.quantize": lambda event: [f"quantizing to {event.details.get('quant')}…"],
    "export.smoke": lambda event: ["smoke-testing the GGUF in llama.cpp…"],
    "export.modelfile": lambda event: [],
    "eval.load": lambda event: [f"loading the models to evaluate ({event.details.get('backend', 'auto')})…"],
    "eval.score": lambda event: [f"scoring {counted(event.total, 'example')} of {count(event.details.get('personas'))} "
                                 f"personas from {event.details.get('split')}"],
    "eval.embed": lambda event: [f"embedding the replies ({event.details.get('model', 'all-MiniLM-L6-v2')})…"],
    "eval.write": lambda event: [],
    "embed.load": lambda event: [f"loading the embedder {event.details.get('model', '')}…"],
    "embed.encode": lambda event: [f"embedding {counted(event.total, 'message')} in batches of "
                                   f"{count(event.details.get('batch_size'))}"],
    "embed.finish": lambda event: [],
}
FINISHED = {
    "export.merge": lambda event: [f"merged{_took(event)}: {event.details.get('out')}"
                                   + (f" ({event.details['adapter_note']})" if event.details.get("adapter_note")
                                      else "")],
    "export.convert": lambda event: [f"converted{_took(event)}: {_file(event.details)}"],
    "export.quantize": quantized,
    "export.smoke": smoke_finished,
    "export.modelfile": lambda event: [f"Ollama Modelfile written: {event.details.get('path')}"],
    "eval.load": eval_loaded,
    "eval.score": scored,
    "eval.embed": lambda event: [f"replies embedded and attributed{_took(event)}"],
    "eval.write": lambda event: [f"evaluation written{_took(event)}: {event.details.get('path')}"],
    "embed.load": lambda event: [f"embedder loaded{_took(event)} ({count(event.details.get('dim'))} dimensions)"],
    "embed.encode": encoded,
    "embed.finish": lambda event: [f"memory: {counted(event.details.get('rows'), 'row')}, index "
                                   f"{event.details.get('index')}{_took(event)}"],
}
