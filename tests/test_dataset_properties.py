"""Property tests (hypothesis): the cap holds in train.jsonl for any author distribution, splits never share a
conversation, every context precedes its target and belongs to its conversation."""
from __future__ import annotations

import random
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config.app_config import DatasetConfig
from core.dataset.balance import KEY_BINS, Counting, make_plan
from core.dataset.pipeline import prepare_dataset
from core.config.workspace import Workspace
from tests.test_dataset_support import History, read_jsonl

GAPS = (5.0, 40.0, 90.0, 600.0, 2400.0, 4 * 3600.0)  # some merge, some continue, some start a new conversation
GAP_LIMIT = 30 * 60


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(st.integers(0, 3000), min_size=1, max_size=40),
       max_share=st.sampled_from([0.05, 0.12, 0.25, 0.5, 1.0]), upsample=st.sampled_from([1.0, 1.0, 2.0]),
       per_persona_max=st.sampled_from([0, 0, 50]), seed=st.integers(0, 2**32), narrow=st.booleans())
def test_the_plan_meets_quotas_and_cap_exactly(counts, max_share, upsample, per_persona_max, seed, narrow):
    chooser = random.Random(seed)
    width = 3 if narrow else KEY_BINS  # narrow: many candidates share a bin, so the boundary bin is split
    counting, bins = Counting(), {}
    for persona_id, count in enumerate(counts):
        if count:
            bins[persona_id] = [chooser.randrange(KEY_BINS - width, KEY_BINS) for _ in range(count)]
            for key in bins[persona_id]:
                counting.observe(persona_id, key)
    plan = make_plan(counting, max_share=max_share, max_upsample=upsample, per_persona_max=per_persona_max)
    kept = Counter({p: sum(plan.copies(p, key) for key in keys) for p, keys in bins.items()})
    total = sum(kept.values())
    assert +kept == Counter({p: q for p, q in plan.quotas.items() if q})
    assert all(count <= plan.share * total + 1e-9 for count in kept.values())
    relaxed = {int(entry["id"]) for entry in plan.relaxed}
    if bins:
        assert plan.share == max(max_share, 1 / (len(bins) - len(relaxed)))
    for persona_id, keys in bins.items():
        supply = int(len(keys) * upsample)  # the true bound: upsampled, then never above per_persona_max
        if per_persona_max:
            supply = min(supply, per_persona_max)
        assert kept[persona_id] <= supply
        assert kept[persona_id] <= len(keys) * upsample  # never duplicated beyond the factor
        if kept[persona_id] < supply:
            assert persona_id not in relaxed and kept[persona_id] == max(kept.values())  # only the largest are cut
    for entry in plan.relaxed:  # relaxed only when counting it would have more than halved the others' level,
        persona_id = int(entry["id"])  # and then it keeps its whole supply
        supply = int(len(bins[persona_id]) * upsample)
        assert kept[persona_id] == (min(supply, per_persona_max) if per_persona_max else supply)
        assert entry["cap_with"] * 2 < entry["cap_without"]


def test_one_small_persona_is_relaxed_instead_of_dragging_everyone_to_its_size():
    counting = Counting()
    for persona_id, count in enumerate([1000] * 8 + [10]):
        for number in range(count):
            counting.observe(persona_id, number % KEY_BINS)
    plan = make_plan(counting, max_share=0.12, max_upsample=1.0, per_persona_max=0)
    # counted, the small one would cap everyone at 30: 0.12 * (8 * 30 + 10) = 30
    assert plan.relaxed == [{"id": "8", "train_candidates": 10, "cap_with": 30, "cap_without": 1000}]
    assert plan.quotas == {**{p: 1000 for p in range(8)}, 8: 10} and plan.share == 1 / 8
    assert "left out of the cap" in plan.warnings[0]
    # a persona half the others' size is counted (equal counts, as documented), not relaxed
    counting = Counting()
    for persona_id, count in enumerate([1000, 1000, 500]):
        for number in range(count):
            counting.observe(persona_id, number % KEY_BINS)
    plan = make_plan(counting, max_share=0.12, max_upsample=1.0, per_persona_max=0)
    assert plan.relaxed == [] and set(plan.quotas.values()) == {500} and "1/3" in plan.note


@st.composite
def histories(draw):
    authors = draw(st.integers(1, 9))
    weights = draw(st.lists(st.integers(1, 30), min_size=authors, max_size=authors))
    size = draw(st.integers(5, 160))
    pool = [author for author, weight in enumerate(weights) for _ in range(weight)]
    plan = []
    for number in range(size):
        author = draw(st.sampled_from(pool))
        gap = draw(st.sampled_from(GAPS))
        reply = draw(st.one_of(st.none(), st.integers(0, max(0, number - 1)))) if number else None
        channel = draw(st.sampled_from([0, 0, 0, 1]))
        plan.append((author, gap, reply, channel))
    return plan


def write_history(workspace: Workspace, plan) -> dict[int, tuple]:
    """Store the plan; returns message id -> (channel, created_at, reply_to, author) and each text's id."""
    history = History()
    for author in {author for author, *_ in plan}:
        history.user(1000 + author, f"Author{author}")
    channels = [history.channel(4000, "general"), history.channel(4001, "random")]
    ids, facts = [], {}
    for number, (author, gap, reply, channel) in enumerate(plan):
        reply_to = ids[reply] if reply is not None and reply < len(ids) else None
        message_id = history.say(channels[channel], 1000 + author, f"w{number}x", after=gap, reply_to=reply_to)
        ids.append(message_id)
        facts[message_id] = (channels[channel], history.clock, reply_to, number)
    history.write(workspace.connect())
    return facts


def reference_conversations(facts: dict[int, tuple]) -> dict[int, int]:
    """message id -> first message id of its conversation, by the documented rule (independent of the code)."""
    first_of, current, last_time = {}, {}, {}
    for message_id in sorted(facts):
        channel, created, reply_to, _ = facts[message_id]
        start = current.get(channel)
        linked = reply_to is not None and first_of.get(reply_to) == start
        if start is None or ((created - last_time[channel]) > timedelta(seconds=GAP_LIMIT) and not linked):
            start = current[channel] = message_id
        first_of[message_id] = start
        last_time[channel] = created
    return first_of


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=histories(), max_share=st.sampled_from([0.12, 0.3]), split_by=st.sampled_from(["conversation", "time"]))
def test_cap_splits_and_contexts_hold_in_the_files(plan, max_share, split_by):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.open(Path(folder))
        facts = write_history(workspace, plan)
        config = DatasetConfig(min_messages=1, max_share=max_share, split_by=split_by, min_target_chars=1,
                               split_ratios=[0.6, 0.2, 0.2], spam_repeat_limit=0)
        stats = prepare_dataset(workspace.connect(), config, workspace.root / "out")
        splits = {name: read_jsonl(workspace.root / "out" / f"{name}.jsonl") for name in ("train", "val", "test")}
    train = splits["train"]
    shares = Counter(example["meta"]["persona_id"] for example in train)
    assert all(count <= stats["balance"]["applied_share"] * len(train) + 1e-9 for count in shares.values())
    assert stats["balance"]["applied_share"] >= max_share
    conversations = {name: {e["meta"]["conversation_id"] for e in examples} for name, examples in splits.items()}
    assert not conversations["train"] & conversations["val"]
    assert not conversations["train"] & conversations["test"]
    assert not conversations["val"] & conversations["test"]
    by_number = {number: message_id for message_id, (_, _, _, number) in facts.items()}
    first_of = reference_conversations(facts)
    for example in (e for examples in splits.values() for e in examples):
        target = int(example["meta"]["message_id"])
        channel, created, _, _ = facts[target]
        assert example["meta"]["conversation_id"] == f"{channel}-{first_of[target]}"
        context = " ".join(message["content"] for message in example["messages"][1:-1])
        for word in context.replace("\n", " ").replace(":", " ").split():
            if word.startswith("w") and word.endswith("x") and word[1:-1].isdigit():
                source = by_number[int(word[1:-1])]
                assert facts[source][1] < created          # the context precedes the target
                assert first_of[source] == first_of[target]  # and belongs to its conversation
