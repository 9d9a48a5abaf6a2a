"""Evaluation metrics as plain functions over plain data (texts, numbers, vectors): no ML libraries here.

The evaluation worker (``model.eval_worker``) computes losses, generations and embeddings, and hands them to these
functions, which a unit test can check by hand: perplexity, reply-length distributions, vocabulary overlap, the
"assistant-speak" rate, verbatim regurgitation of training targets, embedding similarity, and the blind A/B file.
"""
from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter
from typing import Iterable, Sequence

WORD = re.compile(r"[\w']+", re.UNICODE)
# Reply lengths in words, bucketed: Discord replies are mostly 1-10 words; assistants write paragraphs.
LENGTH_BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 10**9))
# Phrases a chat assistant uses and a Discord regular does not. Matched case-insensitively as substrings after
# normalising apostrophes; each is specific enough not to fire on ordinary chat ("sure" alone would).
ASSISTANT_PHRASES = (
    "as an ai", "as a language model", "as an assistant", "i'm an ai", "i am an ai", "i'm just an ai",
    "i'd be happy to", "i would be happy to", "i'd be glad to", "happy to help", "i'm here to help",
    "how can i assist", "how can i help you", "how may i help", "is there anything else",
    "certainly!", "absolutely!", "of course!", "great question", "good question!", "that's a great point",
    "i hope this helps", "hope that helps!", "feel free to", "let me know if you", "don't hesitate to",
    "i apologize", "i'm sorry, but", "i cannot assist", "i can't assist", "i don't have personal",
    "i do not have personal", "it's important to note", "it is important to note", "in conclusion",
    "here are some", "here's a", "delve", "thank you for your question", "i understand your",
)
REGURGITATION_NGRAM = 8    # words in a row shared with a training target that count as copying
REGURGITATION_MIN_WORDS = 4  # an exact repeat of a shorter target ("lol", "same here") is just chat


def words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("\u2019", "'"))


def normalise(text: str) -> str:
    return " ".join(words(text))


def perplexity(total_nll: float, total_tokens: int) -> float | None:
    """exp(mean negative log-likelihood per token); None without tokens."""
    if total_tokens <= 0:
        return None
    return math.exp(min(total_nll / total_tokens, 700.0))


def length_summary(texts: Sequence[str]) -> dict:
    """Word and character lengths: mean, median, 90th percentile, and the bucketed word-length histogram."""
    word_counts = [len(words(text)) for text in texts]
    char_counts = [len(text) for text in texts]
    if not texts:
        return {"count": 0}
    return {"count": len(texts), "words_mean": round(statistics.fmean(word_counts), 2),
            "words_median": statistics.median(word_counts), "words_p90": percentile(word_counts, 0.9),
            "chars_mean": round(statistics.fmean(char_counts), 1), "histogram": length_histogram(word_counts)}


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def length_histogram(word_counts: Iterable[int]) -> dict[str, float]:
    """Share of replies per word-length bucket ("1", "2", "3-4", ... "33+"), summing to 1."""
    counts = Counter()
    total = 0
    for count in word_counts:
        total += 1
        for low, high in LENGTH_BUCKETS:
            if low <= max(count, 1) <= high:
                counts[bucket_name(low, high)] += 1
                break
    return {bucket_name(low, high): round(counts[bucket_name(low, high)] / total, 4) if total else 0.0
            for low, high in LENGTH_BUCKETS}


def bucket_name(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}+" if high >= 10**9 else f"{low}-{high}"


def length_comparison(real: Sequence[str], generated: Sequence[str]) -> dict:
    """Both length summaries, the ratios of mean and of median word counts (generated / real; the median ratio is
    None when the real median is 0 words, all-emoji replies), and how much the histograms overlap (1 = same)."""
    real_summary, generated_summary = length_summary(real), length_summary(generated)
    result = {"real": real_summary, "generated": generated_summary}
    if real and generated:
        result["mean_ratio"] = round(generated_summary["words_mean"] / max(real_summary["words_mean"], 1e-9), 3)
        real_median = real_summary["words_median"]
        result["median_ratio"] = round(generated_summary["words_median"] / real_median, 3) if real_median else None
        result["histogram_overlap"] = round(sum(min(real_summary["histogram"][key], generated_summary["histogram"][key])
                                                for key in real_summary["histogram"]), 4)
    return result


def vocabulary_overlap(real: Sequence[str], generated: Sequence[str]) -> dict:
    """Word-type overlap: Jaccard, the share of generated word types the persona really uses, and the reverse."""
    real_types = {word for text in real for word in words(text)}
    generated_types = {word for text in generated for word in words(text)}
    union = real_types | generated_types
    shared = real_types & generated_types
    return {"jaccard": round(len(shared) / len(union), 4) if union else 0.0,
            "generated_in_real": round(len(shared) / len(generated_types), 4) if generated_types else 0.0,
            "real_covered": round(len(shared) / len(real_types), 4) if real_types else 0.0,
            "real_types": len(real_types), "generated_types": len(generated_types)}


def assistant_phrases_in(text: str) -> list[str]:
    lowered = text.lower().replace("\u2019", "'")
    return [phrase for phrase in ASSISTANT_PHRASES if phrase in lowered]


def assistant_speak(texts: Sequence[str]) -> dict:
    """Share of replies containing at least one assistant phrase, and which phrases fired how often."""
    hits = Counter()
    flagged = 0
    for text in texts:
        found = assistant_phrases_in(text)
        flagged += bool(found)
        hits.update(found)
    return {"rate": round(flagged / len(texts), 4) if texts else 0.0, "replies": len(texts), "flagged": flagged,
            "phrases": dict(hits.most_common())}


class TrainingTargets:
    """The training set's target replies, indexed for verbatim-copy checks (exact texts and word n-grams)."""

    def __init__(self, targets: Iterable[str], ngram: int = REGURGITATION_NGRAM):
        self.ngram = ngram
        self.exact: set[str] = set()
        self.ngrams: set[tuple[str, ...]] = set()
        for target in targets:
            tokens = words(target)
            if len(tokens) >= REGURGITATION_MIN_WORDS:
                self.exact.add(" ".join(tokens))
            self.ngrams.update(ngrams(tokens, ngram))

    def copied(self, text: str) -> str | None:
        """How ``text`` copies a target ("exact" or "ngram"), or None."""
        tokens = words(text)
        if len(tokens) >= REGURGITATION_MIN_WORDS and " ".join(tokens) in self.exact:
            return "exact"
        if any(gram in self.ngrams for gram in ngrams(tokens, self.ngram)):
            return "ngram"
        return None


def ngrams(tokens: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[index:index + size]) for index in range(len(tokens) - size + 1)]


def regurgitation(generated: Sequence[str], targets: TrainingTargets, examples: int = 5) -> dict:
    """Share of generated replies that copy a training target verbatim (whole, or an n-gram of it)."""
    kinds = Counter()
    copied_examples = []
    for text in generated:
        kind = targets.copied(text)
        if kind:
            kinds[kind] += 1
            if len(copied_examples) < examples:
                copied_examples.append(text)
    flagged = sum(kinds.values())
    return {"rate": round(flagged / len(generated), 4) if generated else 0.0, "exact": kinds["exact"],
            "ngram": kinds["ngram"], "ngram_size": targets.ngram, "min_words": REGURGITATION_MIN_WORDS,
            "examples": copied_examples}


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def mean_vector(vectors: Sequence[Sequence[float]]) -> list[float]:
    return [sum(column) / len(vectors) for column in zip(*vectors)] if vectors else []


def style_similarity(real: Sequence[Sequence[float]], generated: Sequence[Sequence[float]]) -> dict:
    """Embedding cosine between generated and real replies: paired (each reply vs the real one it stands in for)
    and between the two centroids (the persona's overall style)."""
    if not real or not generated:
        return {"paired_mean": None, "centroid": None}
    paired = [cosine(a, b) for a, b in zip(real, generated)]
    return {"paired_mean": round(statistics.fmean(paired), 4),
            "centroid": round(cosine(mean_vector(real), mean_vector(generated)), 4)}


def blind_ab(items: Sequence[dict], seed: int = 0) -> tuple[list[dict], dict[str, dict]]:
    """Rows for a blind A/B test and the separate key. ``items``: dicts with persona, context, real, generated.

    Which side is real is decided by a seeded coin per row, and rows are shuffled, so neither position nor order
    gives the answer away.
    """
    rng = random.Random(seed)
    rows, key = [], {}
    order = list(range(len(items)))
    rng.shuffle(order)
    for number, index in enumerate(order, start=1):
        item = items[index]
        row_id = f"ab-{number:04d}"
        real_side = rng.choice("AB")
        fake_side = "B" if real_side == "A" else "A"
        rows.append({"id": row_id, "persona": item["persona"], "context": item["context"],
                     real_side: item["real"], fake_side: item["generated"]})
        key[row_id] = {"real": real_side, "generated": fake_side, "persona_id": item.get("persona_id"),
                       "message_id": item.get("message_id")}
    for row in rows:
        row["A"], row["B"] = row.pop("A"), row.pop("B")  # keys in A, B order in the file
    return rows, key
