"""``prepare``: the stored history → train/val/test/dpo JSONL, stats.json and preview.txt, in two streaming passes.

Pass 1 reads each channel's messages in id order, admits, cleans and threads them, builds every candidate example
and DPO pair and appends it to a spool file with its split and sampling key, counting training candidates per
persona. The balancing plan is then computed from those counts alone. Pass 2 reads the spool once and routes each
line to its output (dropping or repeating training candidates as the plan says). Memory holds a channel's recent
turns, per-persona histograms and the user-name cache: it does not grow with the number of messages.
"""
from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import orjson

from core.config.app_config import DatasetConfig
from core.dataset import DatasetError, source
from core.dataset.balance import RELAX_FACTOR, Plan, make_plan, relax_warning
from core.dataset.examples import BuildState, ExampleBuilder
from core.conversation.filters import BARRIER, MESSAGE_REASONS, TARGET_REASONS, Admission
from core.prompting.live import make_place
from core.dataset.personas import message_counts, select_personas
from core.dataset.preview import preview_text
from core.dataset.profile import compute_profiles, describe, example_candidates, examples_text, pick_examples
from core.conversation.scrub import Scrubber
from core.dataset.splits import SPLITS, Splitter
from core.conversation.text import TextCleaner
from core.conversation.threading import SourceMessage, Threader
from core.dataset.writer import PER_PERSONA_DIR, Spool, Staging
from core.conversation.turns import Persona
from core.consent.guard import ConsentGuard
from core.jobs.pause_points import pause_point
from storage import consent as consent_store, curation, personas as store
from storage.personas import register_artifact

STRATEGIES = ("multi", "per-persona")
CONSENT_ATTEMPTS = 3  # builds thrown away because someone opted out meanwhile, before prepare gives up
PREVIEW_EXAMPLES = 5
PROGRESS_EVERY = 1 << 16
log = logging.getLogger(__name__)
META_PERSONA = b'"meta":{"persona_id":"'  # how orjson writes the start of an example's meta (see ExampleBuilder)
SCAN_CACHE_KIB = -16384  # SQLite page cache while streaming (negative = KiB): a scan reads each page once, so a
#                          large cache would only hold pages never read again and make memory track the file size


def prepare_dataset(conn: sqlite3.Connection, config: DatasetConfig, out_dir: Path, *, personas: str = "all",
                    strategy: str = "multi", on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the dataset into ``out_dir``; returns the stats (also written as stats.json).

    Consent holds while it runs: the dataset is published only if nobody opted out (or was forgotten) since the
    build began, checked under the consent lock (``core.consent.guard``); otherwise the staged build is thrown away
    and the dataset is built again without them (``CONSENT_ATTEMPTS`` times at most)."""
    if strategy not in STRATEGIES:
        raise DatasetError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    for attempt in range(1, CONSENT_ATTEMPTS + 1):
        guard = ConsentGuard(conn)
        staged = stage_dataset(conn, config, out_dir, personas, strategy, on_progress)
        try:
            with guard.publishing() as newly_opted_out:
                if not newly_opted_out:
                    staged.staging.publish(staged.stats, staged.preview)
                    store.save_styles(conn, staged.styles, active=config.style_profile)
                    contributors = store.message_authors(conn) - guard.opted_out  # anyone's text may be context
                    register_artifact(conn, "dataset", out_dir, users=contributors)
                    return staged.stats
        finally:
            staged.staging.discard()
        log.warning("%d people opted out or were forgotten while the dataset was built: building it again without "
                    "them (attempt %d of %d)", len(newly_opted_out), attempt + 1, CONSENT_ATTEMPTS)
    raise DatasetError(f"consent changed {CONSENT_ATTEMPTS} times while the dataset was built (people opting out or "
                       f"being forgotten); nothing was published: run prepare again")


@dataclasses.dataclass
class Staged:
    staging: Staging
    stats: dict
    preview: str
    styles: dict = dataclasses.field(default_factory=dict)   # user id -> (profile JSON, line), for the database


def stage_dataset(conn, config: DatasetConfig, out_dir: Path, personas: str, strategy: str, on_progress) -> Staged:
    """Both passes into a staging folder (not yet published), with the consent read at the start."""
    started = time.perf_counter()
    cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = {SCAN_CACHE_KIB}")
    try:
        counts = message_counts(conn)
        selected = select_personas(conn, config.min_messages, personas, counts)
        if not selected:
            raise DatasetError(f"no personas: no author who has not opted out has at least {config.min_messages} "
                               f"messages (lower dataset.min_messages or --min-messages)")
        opted_out = consent_store.opted_out_users(conn)
        return build_dataset(conn, config, out_dir, selected, strategy, opted_out, on_progress, started, counts)
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache_size)}")


def build_dataset(conn, config: DatasetConfig, out_dir: Path, selected: list[Persona], strategy: str, opted_out,
                  on_progress, started: float, counts: dict[int, int]) -> Staged:
    """Both passes into a staging folder; on any failure the staging folder is removed."""
    staging = Staging(out_dir)
    try:
        spool = Spool(staging.root / "spool.bin")
        scrubber = Scrubber()
        marks = {message_id: scrubber.scrub(better) if better else better  # a typed answer is scrubbed like any text
                 for message_id, better in curation.bad_marks(conn).items()}
        state = BuildState({p.id: p for p in selected}, config, Splitter(config, conn), spool,
                           marks=marks)  # the Dataset page's marks: bad ones are dropped
        messages_read = first_pass(conn, state, scrubber, opted_out, on_progress)
        spool.close()
        pause_point("prepare.staged")
        plan = make_plan(state.counting, max_share=config.max_share, max_upsample=config.max_upsample,
                         per_persona_max=config.per_persona_max, capped=strategy == "multi")
        computed, styles = persona_styles(conn, state, selected, scrubber)
        routed = second_pass(spool, plan, staging, strategy, selected, styles)
        stats = build_stats(config, strategy, selected, counts, state, plan, routed, scrubber, staging,
                            messages_read, started)
        stats["curation"] = {"marked_bad": len(state.marks), "dropped_bad": state.curated["dropped_bad"],
                             "dpo_pairs": state.curated["dpo_pairs"]}
        stats["style_profile"] = {"used": bool(styles.fixed), "examples": state.config.style_examples,
                                  "lines": {str(pid): line for pid, line in styles.fixed.items()}}
        staging.pool.close()
        return Staged(staging, stats, preview_text(routed.preview, {str(p.id): p.name for p in selected}), computed)
    except BaseException:
        staging.discard()
        raise


def first_pass(conn, state: BuildState, scrubber: Scrubber, opted_out, on_progress) -> int:
    config = state.config
    names = source.name_book(conn, scrubber, opted_out)
    cleaner = TextCleaner(names, source.channel_names(conn, scrubber))
    total, read = source.message_total(conn), 0
    gap, merge = config.conversation_gap_minutes * 60.0, config.merge_window_seconds
    bots = source.bot_ids(conn)
    for channel_id, channel_name, server_name in source.channels(conn):
        place = make_place(server_name, channel_name, scrubber, names=names)
        threader = Threader(channel_id, ExampleBuilder(state, place, channel_id), gap, merge)
        admission = Admission(cleaner, config.spam_repeat_limit, state.filtered)
        admit, push = admission.admit, threader.push
        for (message_id, author_id, message_type, content, created, reply_to, mentions, attachments,
             reactions) in source.channel_messages(conn, channel_id):
            created_at = datetime.fromisoformat(created)
            admitted = admit(message_id, author_id, author_id in bots, message_type, content, created_at, reply_to,
                             orjson.loads(mentions) if mentions != "[]" else (), attachments, reactions)
            if type(admitted) is SourceMessage:
                push(admitted)
            elif admitted == BARRIER:
                threader.barrier(created_at.timestamp())
            read += 1
            if on_progress is not None and read % PROGRESS_EVERY == 0:
                on_progress(read, total)
        threader.finish()
    if on_progress is not None:
        on_progress(read, total)
    return read


@dataclasses.dataclass
class Routed:
    kept: Counter                 # (split, persona id) -> lines written
    dpo: Counter                  # persona id -> pairs written
    preview: list[dict]
    people: set = dataclasses.field(default_factory=set)  # ids (bytes) of everyone whose text a written line holds


@dataclasses.dataclass
class StyleLines:
    """What ends each persona's system message: ``fixed`` (val, test, DPO prompts; what the bot's prompt gets) and,
    with ``dataset.style_examples``, for training examples the profile line with other lines of theirs each time
    (``rotating``: id -> (line without examples, candidate lines, how many))."""
    fixed: dict[int, str] = dataclasses.field(default_factory=dict)
    rotating: dict[int, tuple[str, list[str], int]] = dataclasses.field(default_factory=dict)

    def line_for(self, persona_id: int, split: str, record: dict) -> str | None:
        rotating = self.rotating.get(persona_id)
        if rotating is None or split != "train":
            return self.fixed.get(persona_id)
        line, candidates, count = rotating
        seed = int(record["meta"]["message_id"])
        chosen = pick_examples(candidates, count, seed, exclude=record["messages"][-1]["content"])
        return f"{line} {examples_text(chosen)}" if chosen else line


def persona_styles(conn, state: BuildState, selected: list[Persona], scrubber: Scrubber
                   ) -> tuple[dict[int, tuple[str, str]], StyleLines]:
    """(computed profiles to store: id -> (JSON, line), the lines the examples get).

    Profiles come from the training split's replies only. The owner's edited line wins over the computed one (and
    then no example lines rotate); with ``dataset.style_profile`` off no example gets a line (the computed ones are
    still stored, inactive)."""
    config = state.config
    texts = {persona.id: state.style_texts.get(persona.id, []) for persona in selected}
    profiles = compute_profiles(texts, names=[persona.name for persona in selected])
    candidates = {pid: [scrubber.scrub(line) for line in example_candidates(texts[pid])]
                  for pid in profiles} if config.style_examples else {}
    for pid, profile in profiles.items():
        profile.examples = pick_examples(candidates.get(pid, []), config.style_examples, config.seed)
    computed = {pid: (orjson.dumps(profile.as_json()).decode(), describe(profile))
                for pid, profile in profiles.items() if profile.replies}
    if not config.style_profile:
        return computed, StyleLines()
    edited = {pid: row["edited"] for pid, row in store.styles(conn).items() if row["edited"] and pid in texts}
    styles = StyleLines(fixed={pid: scrubber.scrub(edited.get(pid) or line) for pid, (_, line) in computed.items()})
    styles.fixed.update({pid: scrubber.scrub(line) for pid, line in edited.items()})
    for pid, profile in profiles.items():
        if config.style_examples and pid in computed and pid not in edited:
            profile.examples = []
            styles.rotating[pid] = (scrubber.scrub(describe(profile)), candidates[pid], config.style_examples)
    return computed, styles


def with_style(payload: bytes, styles: StyleLines, persona_id: int, split: str, key: str) -> bytes:
    """The spooled example (``key`` "messages") or DPO pair ("prompt") with the style line ending its system message,
    exactly where ``core.prompting.builder.system_prompt`` puts a persona description."""
    record = orjson.loads(payload)
    line = styles.line_for(persona_id, split if key == "messages" else "dpo", record)
    messages = record[key]
    if line and messages and messages[0]["role"] == "system":
        messages[0]["content"] = f"{messages[0]['content']} {line}"
    return orjson.dumps(record)


def second_pass(spool: Spool, plan: Plan, staging: Staging, strategy: str, selected: list[Persona],
                styles: StyleLines) -> Routed:
    per_persona = strategy == "per-persona"

    def output(split: str, persona_id: int):
        name = f"{split}.jsonl"
        return staging.output(f"{PER_PERSONA_DIR}/{persona_id}/{name}" if per_persona else name)
    for persona in selected if per_persona else [Persona(0, "")]:  # every expected file exists, even if empty
        for split in (*SPLITS, "dpo"):
            output(split, persona.id)
    routed = Routed(Counter(), Counter(), [])
    previewed: set[int] = set()
    people = routed.people
    for kind, split, persona_id, key_bin, speakers, payload in spool.records():
        if persona_id in styles.fixed:
            payload = with_style(payload, styles, persona_id, split, "prompt" if kind == b"d" else "messages")
        if kind == b"d":
            output("dpo", persona_id).write(payload)
            routed.dpo[persona_id] += 1
            people.update(speakers.split(b","))
            continue
        copies = plan.copies(persona_id, key_bin) if split == "train" else 1
        if copies:
            people.update(speakers.split(b","))
        for _ in range(copies):
            output(split, persona_id).write(payload)
        routed.kept[split, persona_id] += copies
        if copies and split == "train" and persona_id not in previewed and len(previewed) < PREVIEW_EXAMPLES:
            previewed.add(persona_id)
            routed.preview.append(orjson.loads(payload))
    people.discard(b"")  # a line spooled without speakers
    if not per_persona:
        staging.pool.close()  # flush every handle before the file is read back
        enforce_cap(staging.files["train.jsonl"].path, plan)
    spool.path.unlink()
    return routed


def enforce_cap(train_path: Path, plan: Plan) -> None:
    """Read the written train.jsonl back and check every persona's count against its quota and the applied cap; the
    sampling is exact by construction, so this guards against a change that breaks it, or a write that lost lines."""
    written = written_personas(train_path)
    total = sum(written.values())
    for persona_id in written.keys() | {p for p, quota in plan.quotas.items() if quota}:
        count, quota = written[persona_id], plan.quotas.get(persona_id, 0)
        if count != quota or count > plan.share * total + 1e-9:
            raise DatasetError(f"internal error: persona {persona_id} has {count} training examples of {total} in "
                               f"{train_path.name}, its quota is {quota} (cap {plan.share:.4f}); "
                               f"the dataset was not published")


def written_personas(path: Path) -> Counter:
    """persona id -> lines of a written JSONL output. The meta object is serialised last and message text is
    JSON-escaped, so the last unescaped ``"meta":{"persona_id":"`` of a line is the line's own."""
    counts: Counter = Counter()
    with open(path, "rb", buffering=1 << 20) as lines:
        for line in lines:
            start = line.rfind(META_PERSONA)
            if start < 0:
                raise DatasetError(f"internal error: a line of {path.name} has no meta.persona_id")
            start += len(META_PERSONA)
            counts[int(line[start:line.index(b'"', start)])] += 1
    return counts


def balance_stats(config: DatasetConfig, plan: Plan, selected: list[Persona], train_total: int) -> dict:
    """The balancing decisions for stats.json; a relaxed persona is also a logged warning and part of the note."""
    names = {str(persona.id): persona.name for persona in selected}
    relaxed = [{**entry, "name": names.get(entry["id"], "")} for entry in plan.relaxed]
    warnings = [relax_warning(entry, entry["name"]) for entry in relaxed]
    for warning in warnings:
        log.warning(warning)
    notes = [text for text in (plan.note, *warnings) if text]
    return {"max_share": config.max_share, "applied_share": plan.share, "note": "; ".join(notes) or None,
            "max_upsample": config.max_upsample, "per_persona_max": config.per_persona_max,
            "reaction_boost": config.reaction_boost,
            "downsampled": max(0, sum(plan.candidates.values()) - train_total),
            "relaxed": relaxed, "warnings": warnings,
            "relax_rule": (f"a persona that would cut the others' cap by more than {RELAX_FACTOR}x if counted in "
                           f"the share cap keeps its examples and is left out of the cap")}


def build_stats(config: DatasetConfig, strategy: str, selected: list[Persona], counts: dict[int, int],
                state: BuildState, plan: Plan, routed: Routed, scrubber: Scrubber, staging: Staging,
                messages_read: int, started: float) -> dict:
    train_total = sum(n for (split, _), n in routed.kept.items() if split == "train")
    before_total = sum(plan.candidates.values())
    personas = []
    for persona in selected:
        before, after = plan.candidates.get(persona.id, 0), routed.kept["train", persona.id]
        personas.append({
            "id": str(persona.id), "name": persona.name, "messages": counts.get(persona.id, 0),
            "train_candidates": before, "share_before": round(before / before_total, 6) if before_total else 0.0,
            "train": after, "share_after": round(after / train_total, 6) if train_total else 0.0,
            "val": routed.kept["val", persona.id], "test": routed.kept["test", persona.id],
            "dpo_pairs": routed.dpo[persona.id]})
    examples = {split: sum(n for (s, _), n in routed.kept.items() if s == split) for split in SPLITS}
    filtered = {reason: state.filtered.get(reason, 0) for reason in (*MESSAGE_REASONS, *TARGET_REASONS)}
    dpo_note = None if state.dpo.pairs else (
        f"no pairs: no two replies to the same message in a training conversation where one earned reactions and "
        f"one did not ({state.dpo.parents_with_several_replies} messages had several replies)")
    personas_written = {str(persona.id).encode() for persona in selected} & routed.people
    return {
        "format": 1, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "people": {"total": len(routed.people), "personas": len(personas_written),  # whose text the files hold
                   "others": len(routed.people - personas_written)},
        "strategy": strategy, "ids": "strings (64-bit Discord ids do not survive JSON numbers everywhere)",
        "messages_read": messages_read, "seconds": round(time.perf_counter() - started, 2),
        "examples": examples, "candidates": {split: state.candidates.get(split, 0) for split in SPLITS},
        "conversations": {split: state.conversations.get(split, 0) for split in SPLITS},
        "balance": balance_stats(config, plan, selected, examples["train"]),
        "prompt_shape": {"targets_merged_with_own_turns": state.merged_targets,
                         "dpo_prompts_ending_before_own_turns": state.dpo.prompts_cut},
        "personas": personas, "filtered": filtered,
        "scrubbed": dict(sorted(scrubber.counts.items())),
        "dpo": {"pairs": state.dpo.pairs, "parents_with_several_replies": state.dpo.parents_with_several_replies,
                "note": dpo_note},
        "files": {name: output.summary() for name, output in sorted(staging.files.items())},
        "config": dataclasses.asdict(config),
    }
