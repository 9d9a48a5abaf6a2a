"""What happens to a generated reply before it reaches Discord: stop sequences, cleaning, splitting, the blocklist.

Pure functions over strings (no ML, no Discord), shared by the bot, the ``chat`` playground and evaluation:
- ``stop_sequences``: a reply ends where the model starts another speaker's turn (``\\nName:``) or the chat
  template's end/start-of-turn token;
- ``clean_reply``: cuts template tokens and other speakers' turns, strips a leading ``Persona:`` label (training
  labels other speakers' lines ``Name: text``, so small models sometimes label their own);
- ``split_message``: Discord's 2000-character limit, split on paragraph, line, sentence, then word boundaries;
- ``blocked_word``: the owner's word blocklist (whole words, case-insensitive);
- ``leaks_internals``: a reply that quotes the system prompt or a traceback is never sent.
Mentions are left as text: ``@everyone`` stays the literal word (the bot sends with ``AllowedMentions.none()``);
nothing here ever writes ``<@id>`` or ``<@&id>`` syntax.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DISCORD_LIMIT = 2000
# Tokens of common chat templates (ChatML, Llama 3, Gemma, Phi): whatever follows one is not the persona's reply.
TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z_]+\|>|<(?:start|end)_of_turn>|</s>")
SENTENCE_END = re.compile(r"[.!?…。！？][)\]\"'»”’]*(?=\s)")
MIN_PART_SHARE = 0.3   # a boundary earlier than this share of the limit makes a uselessly short part: try the next kind
PROMPT_PROBE_CHARS = 40  # this much of the system prompt quoted in a reply counts as a leak
INTERNAL_MARKERS = ("Traceback (most recent call last)", "InferenceError:")


@dataclass(frozen=True)
class ReplySettings:
    """How the bot and the playground generate; defaults match the export smoke test's sampling."""
    max_tokens: int = 96            # Discord replies are short; more is usually babbling
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.1     # small models loop without it
    max_turns: int = 12             # as DatasetConfig.max_context_turns: the prompt shape training saw
    memory_k: int = 5               # as MemoryConfig.top_k
    memory_share: float = 0.25      # at most this share of the context budget goes to memories
    blocklist: tuple[str, ...] = ()  # words a reply must not contain: regenerated once, then dropped
    message_limit: int = DISCORD_LIMIT
    seed: int | None = None         # None: a fresh seed per reply


def stop_sequences(speaker_names: Iterable[str], end_tokens: Iterable[str] = ()) -> list[str]:
    """Strings that end a reply: each speaker's ``\\nName:`` line start, then the template's turn tokens."""
    stops: list[str] = []
    for name in speaker_names:
        name = " ".join(str(name).split())
        if name:
            stops.append(f"\n{name}:")
    stops.extend(token for token in end_tokens if token)
    return list(dict.fromkeys(stops))


def clean_reply(text: str, persona_name: str, speaker_names: Iterable[str]) -> str:
    """The persona's reply only: template tokens and other speakers' turns cut, its own ``Name:`` labels removed."""
    marker = TEMPLATE_TOKEN.search(text)
    if marker:
        text = text[:marker.start()]
    own = _label(persona_name)
    others = [_label(name) for name in speaker_names if name.strip() and not _same(name, persona_name)]
    kept: list[str] = []
    for line in text.split("\n"):
        if any(label.match(line) for label in others):
            break  # the model started writing someone else's turn
        if own is not None:
            line = own.sub("", line, count=1)
        kept.append(line)
    return "\n".join(kept).strip()


def _label(name: str) -> re.Pattern | None:
    name = " ".join(str(name).split())
    if not name:
        return None
    return re.compile(r"^\s*\**" + re.escape(name) + r"\**\s*:\s?", re.IGNORECASE)


def _same(name: str, other: str) -> bool:
    return " ".join(name.split()).casefold() == " ".join(other.split()).casefold()


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Parts of at most ``limit`` characters, cut at the last paragraph, line, sentence or word boundary that keeps a
    part reasonably long; a hard cut only for a run without any. Whitespace at the cuts is dropped."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    parts: list[str] = []
    text = text.strip()
    while len(text) > limit:
        cut = _cut_point(text, limit)
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            parts.append(head)
    if text:
        parts.append(text)
    return parts


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit + 1]  # a boundary right after the limit still lets the head fill it
    floor = max(1, int(limit * MIN_PART_SHARE))
    for finder in (_last_paragraph, _last_line, _last_sentence, _last_space):
        position = finder(window)
        if position is not None and floor <= position <= limit:
            return position
    return limit


def _last_paragraph(window: str) -> int | None:
    position = window.rfind("\n\n")
    return position if position > 0 else None


def _last_line(window: str) -> int | None:
    position = window.rfind("\n")
    return position if position > 0 else None


def _last_sentence(window: str) -> int | None:
    ends = [match.end() for match in SENTENCE_END.finditer(window) if match.end() < len(window)]
    return ends[-1] if ends else None


def _last_space(window: str) -> int | None:
    match = re.search(r"\s\S*$", window)
    return match.start() if match and match.start() > 0 else None


def blocked_word(text: str, words: Iterable[str]) -> str | None:
    """The first blocklisted word or phrase ``text`` contains as a whole word (case-insensitive), else None."""
    for word in words:
        pieces = str(word).split()
        pattern = r"\s+".join(re.escape(piece) for piece in pieces)  # a phrase matches across any whitespace
        if pieces and re.search(r"(?<!\w)" + pattern + r"(?!\w)", text, re.IGNORECASE):
            return " ".join(pieces)
    return None


def leaks_internals(text: str, system_prompt: str) -> bool:
    """Whether a reply quotes the system prompt or looks like an internal error (never sent to a channel)."""
    probe = " ".join(system_prompt.split())[:PROMPT_PROBE_CHARS].casefold()
    flat = " ".join(text.split()).casefold()
    if probe and probe in flat:
        return True
    return any(marker.casefold() in flat for marker in INTERNAL_MARKERS)


def speakers_in_prompt(messages: Sequence[dict], persona_name: str) -> list[str]:
    """The other speakers' names in a built prompt (its user lines read ``Name: text``), newest last."""
    names: dict[str, None] = {}
    for message in messages:
        if message.get("role") != "user":
            continue
        for line in str(message.get("content", "")).split("\n"):
            name, separator, _ = line.partition(": ")
            name = name.strip()
            if separator and name and len(name) <= 64 and not _same(name, persona_name):
                names[name] = None
    return list(names)
