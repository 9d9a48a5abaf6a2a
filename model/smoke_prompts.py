"""Prompts for the export smoke test and the demo, built the way the bot will build them.

Live prompts go through ``core.prompting.builder.build_prompt`` (the one prompt builder training and the bot share),
for personas and places named in the run's dataset, with the persona's style line as the bot sends it; one more prompt is taken verbatim from the dataset, so the test
covers both what training saw and what the bot will send.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from model.eval_data import EvalDataError, data_dir_from_config, persona_name, read_jsonl
from model.export_smoke import SmokePrompt

SYSTEM_PLACE = re.compile(r'^You are (?P<name>.+?), chatting in a channel named "(?P<channel>[^"]*)" '
                          r'on a server named "(?P<server>[^"]*)"\.(?:\s|$)')
OLD_SYSTEM_PLACE = re.compile(r"^You are (?P<name>.+?), chatting in #(?P<channel>.+?) of (?P<server>.+?)\.(?:\s|$)")
#                   a dataset prepared before place names were quoted
# A neutral exchange any persona can answer: no real person's words.
SMOKE_LINES = (("Sam", "hey, what's everyone up to tonight?"), ("Ollie", "anyone around?"))
FALLBACK_PLACE = ("Persona Studio", "general")


def place_of(example: dict) -> tuple[str, str, str] | None:
    """(persona name, server, channel) from an example's system prompt."""
    system = next((m["content"] for m in example["messages"] if m.get("role") == "system"), "")
    match = SYSTEM_PLACE.match(system) or OLD_SYSTEM_PLACE.match(system)
    return (match.group("name"), match.group("server"), match.group("channel")) if match else None


def description_of(example: dict) -> str | None:
    """What the system prompt says after the place (the persona's style line), which the bot sends too."""
    system = next((m["content"] for m in example["messages"] if m.get("role") == "system"), "")
    match = SYSTEM_PLACE.match(system) or OLD_SYSTEM_PLACE.match(system)
    return (system[match.end():].strip() or None) if match else None


def live_prompt(name: str, server: str, channel: str, lines=SMOKE_LINES, *, persona_id: int = 0,
                description: str | None = None) -> list[dict]:
    """A prompt for persona ``name`` answering ``lines`` [(speaker, text)], through the shared prompt builder."""
    from core.conversation.turns import Persona, Place, Turn
    from core.prompting.builder import build_prompt
    start = datetime(2024, 1, 1, 20, 0, tzinfo=timezone.utc)
    history = [Turn(speaker_id=1000 + index, speaker_name=speaker, text=text,
                    created_at=start + timedelta(minutes=index))
               for index, (speaker, text) in enumerate(lines)]
    return build_prompt(Persona(id=persona_id, name=name, description=description), Place(server=server,
                        channel=channel), history, max_turns=12, token_budget=768)


def dataset_examples(config: dict, run_dir: Path, limit: int = 50) -> list[dict]:
    try:
        data_dir = data_dir_from_config(config, run_dir)
    except EvalDataError:
        return []
    for name in ("test.jsonl", "val.jsonl", "train.jsonl"):
        path = data_dir / name
        if path.exists():
            examples = []
            for example in read_jsonl(path):
                examples.append(example)
                if len(examples) >= limit:
                    break
            if examples:
                return examples
    return []


def default_prompts(config: dict, run_dir: Path, personas: int = 2) -> list[SmokePrompt]:
    """Live prompts for up to ``personas`` personas of the run's dataset, plus one prompt straight from it."""
    examples = dataset_examples(config, run_dir)
    places, seen = [], set()
    for example in examples:
        place = place_of(example)
        if place and place[0] not in seen:
            seen.add(place[0])
            places.append((*place, description_of(example)))
    if not places:
        places = [((persona_name(examples[0]) if examples else None) or "Alex", *FALLBACK_PLACE, None)]
    prompts = [SmokePrompt(f"{name} (live prompt)", live_prompt(name, server, channel, description=description))
               for name, server, channel, description in places[:personas]]
    if examples:
        prompts.append(SmokePrompt(f"{place_of(examples[0])[0] if place_of(examples[0]) else 'dataset'} "
                                   f"(dataset prompt)", examples[0]["messages"][:-1]))
    return prompts
