"""The playground's compare mode: which model answers beside the chosen one, and how the two answers are labelled.

Two models (A: the chosen one, B: the one it is compared with) answer the same typed line through the bot's reply
pipeline in one ``chat`` worker: the same persona, place, stored history, memory scope, sampling settings and seed,
so what differs is the model. Each side sees every typed line but only its own earlier replies: each column is its
own conversation with the same person, and A's answer never steers B's. The token budget is each model's own (a
model with another tokenizer may fit fewer old turns); two models sharing a tokenizer (a run's export and its base)
get the same prompt.

- ``compare_model(model, choice)``: ``choice`` is ``"base"`` (the model's training base) or another GGUF file.
  The base of a run's export (``runs/<id>/export/*.gguf``) is what the run's ``config.json`` records when that is a
  GGUF file (the rule of ``model.eval_gguf.base_gguf``, which core may not import); a run trained from the offline
  default's Hugging Face id or folder compares with the offline default GGUF; any other Hugging Face base has no
  GGUF to load, and the error says to pass one. A model outside a run (the bot's setting, WORKSPACE/models, the
  bundled one) compares with the offline default base, SmolLM2-135M-Instruct (``default_base_model``).
- ``model_label(path)``: how the playground and the CLI name a model ("<run id>/<file>" for a run's export).
- ``reply_lines``: one side's answer as labelled lines, for the CLI.
"""
from __future__ import annotations

from pathlib import Path

from core.config.resources import ResourceMissing, default_base_model
from core.jobs.runs import CONFIG_FILE, read_config

BASE = "base"          # the choice that means "the chosen model's training base"
SIDES = ("a", "b")     # ChatReplied.side in compare mode (single mode leaves it "")
DEFAULT_BASE_NAME = "SmolLM2-135M-Instruct"  # a run trained from this hub id or folder has the offline GGUF as base


class CompareError(ValueError):
    """No model to compare with; the message is one line saying why and what to pass instead."""


def model_label(path: Path) -> str:
    """``<run id>/<file>`` for a run's export (as the playground's model menu names it), else the file name."""
    path = Path(path)
    return f"{path.parent.parent.name}/{path.name}" if path.parent.name == "export" else path.name


def run_dir_of(model: Path) -> Path | None:
    """The run folder a GGUF was exported into (``runs/<id>/export/``), or None for any other file."""
    folder = Path(model).parent.parent
    return folder if Path(model).parent.name == "export" and (folder / CONFIG_FILE).is_file() else None


def base_of(model: Path) -> Path:
    """The GGUF ``model`` was trained from (see the module docstring); CompareError when there is none to load."""
    run_dir = run_dir_of(model)
    if run_dir is None:
        return offline_base()
    recorded = read_config(run_dir).get("base_model")
    source = (recorded.get("path") or recorded.get("source")) if isinstance(recorded, dict) else recorded
    if not source:
        raise CompareError(f"run {run_dir.name} records no base model: pick a model to compare with")
    path = Path(str(source)).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise CompareError(f"the base model of run {run_dir.name} ({path}) no longer exists: "
                               f"pick a model to compare with")
        return path
    if path.name == DEFAULT_BASE_NAME:
        return offline_base()
    raise CompareError(f"the base model of run {run_dir.name} is {source}, not a GGUF file: "
                       f"convert it and compare with that GGUF")


def offline_base() -> Path:
    try:
        return default_base_model()
    except ResourceMissing as exc:
        raise CompareError(str(exc)) from None


def compare_model(model: Path, choice: str | Path) -> Path:
    """Model B for model A ``model``: its base for ``"base"``, else the GGUF ``choice`` (never ``model`` itself)."""
    if str(choice) == BASE:
        other = base_of(model)
        if same_file(other, model):
            raise CompareError(f"{model_label(model)} is an untrained base model itself: pick another model "
                               f"to compare with")
        return other
    other = Path(choice).expanduser()
    if not other.is_file():
        raise CompareError(f"the model to compare with, {other}, does not exist")
    if same_file(other, model):
        raise CompareError(f"{model_label(model)} cannot be compared with itself: pick another model")
    return other


def same_file(first: Path, second: Path) -> bool:
    """One file under two names (a link, a relative path) counts as the same model."""
    return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()


def reply_lines(label: str, parts: list[str], dropped_reason: str | None) -> list[str]:
    """``label> part`` per message part, or one line saying why nothing is sent."""
    return [f"{label}> {part}" for part in parts] or [f"{label}> (sends nothing: {dropped_reason})"]
