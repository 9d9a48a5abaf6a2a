"""Balancing that holds: no persona above ``max_share`` of the final training set, exactly.

Counting pass: every training candidate gets a sampling key, ``u ** (1 / weight)`` with ``u`` a seeded hash of its
message id and ``weight`` > 1 for targets that earned reactions (capped at ``reaction_boost``), so reacted targets
are preferred when downsampling (Efraimidis-Spirakis weighted sampling). Keys go into a fixed histogram per persona
(KEY_BINS bins): memory depends on the number of personas, not on the number of messages.

Plan: quotas by water-filling. With supply ``a_p`` (candidates times ``max_upsample``, then at most
``per_persona_max`` when set, so the hard cap holds with upsampling too), the cap C is the largest integer with
``C <= share * sum(min(a_p, C))`` and each persona keeps ``min(a_p, C)``: dominant personas are cut to C, nobody
else loses anything. With fewer than 1/max_share personas the share becomes 1/n (equal counts) and the plan says so.

Small personas are relaxed, not allowed to collapse the set: when counting the smallest persona in the share rule
would more than halve the cap C the others get without it (``RELAX_FACTOR``), it is left out of the rule (it keeps
all its examples, it no longer counts as a persona for the 1/n floor), and the next smallest is checked the same way.
Its examples are fewer than C / RELAX_FACTOR, so the applied share still holds for it over the whole set. The plan
lists every relaxed persona with a warning, and stats.json says so.

Sampling pass: a persona keeps every example whose key bin is above its boundary bin and the first ``r`` in the
boundary bin, so each persona gets exactly its quota; quotas above the candidates (``max_upsample`` > 1) repeat
examples, never more than ``max_upsample`` times.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from fractions import Fraction

from core.dataset import DatasetError
from core.dataset.splits import unit_interval

KEY_BINS = 1024  # fine enough that the boundary bin's order bias is negligible; 4 KB per persona
RELAX_FACTOR = 2  # a persona counted in the share rule may cost the others at most this factor of their cap
REACTION_STEP = 0.25  # each reaction adds this much weight, up to reaction_boost
SAMPLING_SALT = 0x5A5A5A5A  # sampling keys must not correlate with the conversation split, which uses the bare seed


def sampling_bin(message_id: int, reactions: int, seed: int, reaction_boost: float) -> int:
    point = unit_interval(message_id, seed ^ SAMPLING_SALT)
    if reactions > 0 and reaction_boost > 1.0:
        point = point ** (1.0 / min(reaction_boost, 1.0 + REACTION_STEP * reactions))
    return min(int(point * KEY_BINS), KEY_BINS - 1)


@dataclass
class Counting:
    """Per-persona candidate counts and key histograms of the training split."""
    histograms: dict[int, array] = field(default_factory=dict)

    def observe(self, persona_id: int, key_bin: int) -> None:
        histogram = self.histograms.get(persona_id)
        if histogram is None:
            histogram = self.histograms[persona_id] = array("I", [0] * KEY_BINS)
        histogram[key_bin] += 1

    def counts(self) -> dict[int, int]:
        return {persona_id: sum(histogram) for persona_id, histogram in self.histograms.items()}


@dataclass
class Plan:
    quotas: dict[int, int]
    candidates: dict[int, int]
    share: float                     # the cap applied (max_share, or 1/n with fewer personas)
    note: str | None
    relaxed: list[dict] = field(default_factory=list)  # small personas left out of the share rule, and why
    warnings: list[str] = field(default_factory=list)
    boundaries: dict[int, tuple[int, int]] = field(default_factory=dict)  # persona -> (bin, keep in that bin)
    _taken: dict[int, int] = field(default_factory=dict)
    _extra: dict[int, int] = field(default_factory=dict)

    def copies(self, persona_id: int, key_bin: int) -> int:
        """How many times to write this training candidate (0 = dropped)."""
        quota, available = self.quotas.get(persona_id, 0), self.candidates.get(persona_id, 0)
        if quota >= available:
            repeats, extra = divmod(quota, available) if available else (0, 0)
            used = self._extra.get(persona_id, 0)
            if used < extra:
                self._extra[persona_id] = used + 1
                return repeats + 1
            return repeats
        boundary, keep = self.boundaries[persona_id]
        if key_bin > boundary:
            return 1
        if key_bin == boundary and self._taken.get(persona_id, 0) < keep:
            self._taken[persona_id] = self._taken.get(persona_id, 0) + 1
            return 1
        return 0


def make_plan(counting: Counting, *, max_share: float, max_upsample: float, per_persona_max: int,
              capped: bool = True) -> Plan:
    """Quotas for the training split; ``capped=False`` (one set per persona) applies only the per-persona max."""
    if not 0 < max_share <= 1:
        raise DatasetError(f"dataset.max_share must be in (0, 1], not {max_share}")
    if max_upsample < 1:
        raise DatasetError(f"dataset.max_upsample must be at least 1 (1 = never duplicate), not {max_upsample}")
    candidates = counting.counts()
    if not capped:
        plan = Plan({p: limited(n, 1.0, per_persona_max) for p, n in candidates.items()}, candidates, 1.0, None)
    else:
        plan = capped_plan(candidates, Fraction(max_share).limit_denominator(1_000_000), max_upsample,
                           per_persona_max)
    for persona_id, quota in plan.quotas.items():
        if quota < candidates[persona_id]:
            plan.boundaries[persona_id] = boundary(counting.histograms[persona_id], quota)
    return plan


def limited(candidates: int, max_upsample: float, per_persona_max: int) -> int:
    """A persona's supply: its candidates times the upsampling factor, never above the per-persona maximum."""
    supply = int(candidates * max_upsample)
    return min(supply, per_persona_max) if per_persona_max > 0 else supply


def capped_plan(candidates: dict[int, int], max_share: Fraction, max_upsample: float, per_persona_max: int) -> Plan:
    available = {p: limited(n, max_upsample, per_persona_max) for p, n in candidates.items()}
    counted = sorted((p for p, n in available.items() if n > 0), key=lambda p: (available[p], p))
    relaxed: list[dict] = []
    share, cap = level(available, counted, max_share)
    while len(counted) > 1:
        smallest, rest = counted[0], counted[1:]
        rest_share, rest_cap = level(available, rest, max_share)
        if cap * RELAX_FACTOR >= rest_cap:
            break
        relaxed.append({"id": str(smallest), "train_candidates": candidates[smallest],
                        "cap_with": cap, "cap_without": rest_cap})
        counted, share, cap = rest, rest_share, rest_cap
    quotas = {p: min(n, cap) for p, n in available.items()}
    note = None
    if counted and len(counted) * max_share < 1:
        note = (f"only {len(counted)} personas count for the share cap, fewer than 1/max_share = "
                f"{1 / float(max_share):g}: the cap is 1/{len(counted)} (equal counts)")
    plan = Plan(quotas, candidates, float(share), note, relaxed)
    plan.warnings.extend(relax_warning(entry) for entry in relaxed)
    return plan


def relax_warning(entry: dict, name: str = "") -> str:
    who = f"{name} ({entry['id']})" if name else entry["id"]
    return (f"persona {who} has only {entry['train_candidates']} training example(s): counting it in the share cap "
            f"would cut every other persona to {entry['cap_with']} instead of {entry['cap_without']}, so it keeps "
            f"its examples but is left out of the cap")


def level(available: dict[int, int], counted: list[int], max_share: Fraction) -> tuple[Fraction, int]:
    """(the share applied, the cap C) when only ``counted`` personas take part in the share rule."""
    share = max(max_share, Fraction(1, len(counted))) if counted else max_share
    return share, water_level([available[p] for p in counted], share)


def water_level(available: list[int], share: Fraction) -> int:
    """The largest C with C <= share * sum(min(a, C)) (the feasible set is an interval from 0: the bound is concave)."""
    low, high = 0, max(available, default=0)
    while low < high:
        middle = (low + high + 1) // 2
        if middle <= share * sum(min(a, middle) for a in available):
            low = middle
        else:
            high = middle - 1
    return low


def boundary(histogram: array, quota: int) -> tuple[int, int]:
    """(bin, how many to keep from it) so that the bins above it plus that many hold exactly ``quota``."""
    above = 0
    for key_bin in range(KEY_BINS - 1, -1, -1):
        if above + histogram[key_bin] >= quota:
            return key_bin, quota - above
        above += histogram[key_bin]
    return 0, quota - above
