"""The evaluation's attribution step: embed each persona's real training replies, fit the nearest-centroid
classifier (``core.evaluation.attribution``), and attribute every real held-out and every generated reply.

Adds ``attribution`` to each persona of the report (``real``, ``tuned`` and, when generated, ``base``: rate, count,
confused_with), a summary to ``report["attribution"]``, the confusion matrix per source to
``report["attribution_matrix"]`` and, to each record, ``attributed`` ({source: persona id}: what the Models page shows
beside each example). Only the dataset's (scrubbed, consented) replies are read.
"""
from __future__ import annotations

import random

from core.evaluation.attribution import NearestCentroid, confusion_matrix, predict_replies, rates_from_predictions
from model.eval_data import persona_of, read_jsonl

TRAINING_REPLIES_PER_PERSONA = 300  # a centroid settles long before this; more only costs embedding time
SEED = 0


def training_replies(data_dir) -> dict[str, list[str]]:
    """persona id -> a seeded sample of its training replies (the final assistant message of each example)."""
    path = data_dir / "train.jsonl"
    groups: dict[str, list[str]] = {}
    if path.exists():
        for example in read_jsonl(path):
            reply = example["messages"][-1].get("content", "")
            if reply.strip():
                groups.setdefault(persona_of(example), []).append(reply)
    rng = random.Random(SEED)
    return {persona: (rng.sample(replies, TRAINING_REPLIES_PER_PERSONA)
                      if len(replies) > TRAINING_REPLIES_PER_PERSONA else replies)
            for persona, replies in sorted(groups.items())}


def add_attribution(report: dict, records: list[dict], data_dir, *, with_base: bool, embedder=None) -> None:
    """Attribute the records' replies; writes into ``report`` (nothing when no persona has training replies)."""
    training = training_replies(data_dir)
    if not training or not records:
        report["attribution"] = {"personas": len(training), "note": "no training replies to attribute against"}
        return
    if embedder is None:
        from model.embedding import Embedder
        embedder = Embedder()
    classifier = NearestCentroid().fit({persona: embedder.encode(texts) for persona, texts in training.items()})
    sources = ("real", "tuned", "base") if with_base else ("real", "tuned")
    replies: dict[str, dict] = {}
    positions: dict[str, dict[str, list[int]]] = {}  # source -> persona -> the records' indices, in vector order
    for source in sources:
        by_persona: dict[str, list[str]] = {}
        for index, record in enumerate(records):
            if record.get(source) is not None:
                by_persona.setdefault(record["persona"], []).append(record[source])
                positions.setdefault(source, {}).setdefault(record["persona"], []).append(index)
        replies[source] = {persona: embedder.encode(texts) for persona, texts in by_persona.items()}
    predicted = predict_replies(classifier, replies)
    for source, by_persona in predicted.items():
        for persona, labels in by_persona.items():
            for index, label in zip(positions[source][persona], labels):
                records[index].setdefault("attributed", {})[source] = label
    rates = rates_from_predictions(predicted, len(classifier.labels))
    for persona, entry in rates["personas"].items():
        if persona in report["personas"]:
            report["personas"][persona]["attribution"] = entry
    report["attribution"] = {**rates["overall"], "method": "nearest centroid of training-reply embeddings "
                             "(all-MiniLM-L6-v2, cosine)", "training_replies": sum(map(len, training.values()))}
    report["attribution_matrix"] = confusion_matrix(predicted)
