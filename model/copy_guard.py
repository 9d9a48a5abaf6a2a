"""The copy guard: the bot never sends a training message again word for word.

A reply that repeats one of the model's training replies (the same text of four words or more, or eight words in a
row of one: ``core.evaluation.metrics.TrainingTargets``, the test the evaluation's "copied" figure uses) is
regenerated like a reply with a blocklisted word (``model.reply_pipeline``). Why: a persona model memorises some of
what it was trained on, and a memorised message repeated in another channel or to other people is a privacy leak as
much as a style fault; the sample server's own members repeat themselves (31% of its held-out replies share eight
words with a training reply: bench/RESULTS.md), so a well-trained model would too.

The training replies come from the dataset of the run the model was exported from (``RUN/export/*.gguf`` →
``RUN/config.json`` → its dataset's train.jsonl); a model from elsewhere has no guard (None).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from core.evaluation.metrics import TrainingTargets

LOG = logging.getLogger(__name__)


def run_dir_of(model_path: Path) -> Path | None:
    """The run folder an exported GGUF belongs to, or None."""
    for folder in Path(model_path).resolve().parents[:3]:
        if (folder / "config.json").is_file() and (folder / "export").is_dir():
            return folder
    return None


def copy_guard_for(model_path: Path | str) -> TrainingTargets | None:
    """The guard for a model exported from a run whose dataset still exists, else None."""
    from model.eval_data import EvalDataError, data_dir_from_config
    run_dir = run_dir_of(Path(model_path))
    if run_dir is None:
        return None
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        data_dir = data_dir_from_config(config, run_dir)
    except (OSError, ValueError, EvalDataError) as exc:
        LOG.warning("no copy guard for %s: %s", model_path, exc)
        return None
    return guard_from_dataset(data_dir)


def guard_from_dataset(data_dir: Path) -> TrainingTargets | None:
    from model.eval_data import training_targets
    guard = TrainingTargets(training_targets(data_dir))
    return guard if guard.exact or guard.ngrams else None
