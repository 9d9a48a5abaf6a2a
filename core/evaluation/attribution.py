"""Persona attribution: does a reply sound like the persona it was written for, as told apart from the others?

A nearest-centroid classifier over sentence embeddings (numpy only; the vectors come from the evaluation worker):
each persona's centroid is the mean of its real training replies' unit vectors, renormalised, and a reply goes to
the persona whose centroid is the most cosine-similar. Scored on the real held-out replies it measures how far the
personas can be told apart at all (the ceiling); on the generated replies, how much of each voice the model learned.
With one persona every reply is trivially "right": ``personas`` in the result says how many there were to choose.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class NearestCentroid:
    """``fit(vectors_by_label)`` then ``predict(vectors) -> labels``; rows need not be normalised."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.centroids = np.zeros((0, 0), dtype=np.float32)

    def fit(self, vectors_by_label: Mapping[str, np.ndarray | Sequence[Sequence[float]]]) -> "NearestCentroid":
        labels, centroids = [], []
        for label, vectors in vectors_by_label.items():
            matrix = unit_rows(np.asarray(vectors, dtype=np.float32))
            if len(matrix):
                labels.append(label)
                centroids.append(unit_rows(matrix.mean(axis=0, keepdims=True))[0])
        if not labels:
            raise ValueError("no persona has any training vectors to build a centroid from")
        self.labels, self.centroids = labels, np.stack(centroids)
        return self

    def predict(self, vectors: np.ndarray | Sequence[Sequence[float]]) -> list[str]:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.size == 0:
            return []
        scores = unit_rows(matrix.reshape(len(matrix), -1)) @ self.centroids.T
        return [self.labels[index] for index in scores.argmax(axis=1)]


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def attribution_rates(classifier: NearestCentroid, replies: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """``replies[source][persona]`` -> vectors (source: "real", "tuned", "base"). Per persona and overall, the share
    of each source's replies attributed to the persona they belong to, and where the misses went."""
    return rates_from_predictions(predict_replies(classifier, replies), len(classifier.labels))


def predict_replies(classifier: NearestCentroid,
                    replies: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, list[str]]]:
    """``predicted[source][persona]``: the persona each reply was attributed to, in the order of its vectors."""
    return {source: {persona: classifier.predict(vectors) for persona, vectors in by_persona.items()}
            for source, by_persona in replies.items()}


def rates_from_predictions(predicted: Mapping[str, Mapping[str, Sequence[str]]], personas: int) -> dict:
    """``attribution_rates`` from predictions made already; ``personas``: how many the classifier chose from."""
    by_persona: dict[str, dict] = {}
    totals: dict[str, list[int]] = {}
    for source, labels_by_persona in predicted.items():
        for persona, labels in labels_by_persona.items():
            right = sum(label == persona for label in labels)
            entry = by_persona.setdefault(persona, {})
            entry[source] = {"rate": round(right / len(labels), 4) if labels else None,
                             "count": len(labels), "confused_with": confusions(labels, persona)}
            total = totals.setdefault(source, [0, 0])
            total[0] += right
            total[1] += len(labels)
    overall = {source: {"rate": round(right / count, 4) if count else None, "count": count}
               for source, (right, count) in totals.items()}
    return {"personas": by_persona, "overall": {"personas": personas, **overall}}


def confusion_matrix(predicted: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, dict[str, dict[str, int]]]:
    """``matrix[source][true persona][attributed persona]`` -> count (every key a string, cells that are 0 left
    out); the diagonal is what ``rate`` counts as right, the rest is ``confused_with``."""
    matrix: dict[str, dict[str, dict[str, int]]] = {}
    for source, labels_by_persona in predicted.items():
        rows = matrix.setdefault(source, {})
        for persona, labels in labels_by_persona.items():
            row = rows.setdefault(str(persona), {})
            for label in labels:
                row[str(label)] = row.get(str(label), 0) + 1
    return matrix


def confusions(predicted: Sequence[str], persona: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in predicted:
        if label != persona:
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
