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
    personas: dict[str, dict] = {}
    totals: dict[str, list[int]] = {}
    for source, by_persona in replies.items():
        for persona, vectors in by_persona.items():
            predicted = classifier.predict(vectors)
            right = sum(label == persona for label in predicted)
            entry = personas.setdefault(persona, {})
            entry[source] = {"rate": round(right / len(predicted), 4) if predicted else None,
                             "count": len(predicted), "confused_with": confusions(predicted, persona)}
            total = totals.setdefault(source, [0, 0])
            total[0] += right
            total[1] += len(predicted)
    overall = {source: {"rate": round(right / count, 4) if count else None, "count": count}
               for source, (right, count) in totals.items()}
    return {"personas": personas, "overall": {"personas": len(classifier.labels), **overall}}


def confusions(predicted: Sequence[str], persona: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in predicted:
        if label != persona:
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
