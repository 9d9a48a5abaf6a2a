"""What happens to a generated reply before it reaches Discord: stop sequences, cleaning, splitting, the blocklist.

Pure functions over strings (no ML, no Discord), shared by the bot, the ``chat`` playground and evaluation:
- ``stop_sequences``: a reply ends where the model starts another speaker's turn (``\\nName:``) or the chat
  template's end/start-of-turn token;
- ``clean_reply``: cuts template tokens and other speakers' turns, strips a leading ``Persona:`` label (training
  labels other speakers' lines ``Name: text``, so small models sometimes label their own);
- ``split_message``: Discord's 2000-character limit, split on paragraph, line, sentence, then word boundaries;
- ``trim_cut_reply``: a reply that ``max_tokens`` cut off ends at its last sentence, clause or whole word instead;
- ``blocked_word``: the owner's word blocklist (whole words, case-insensitive);
- ``leaks_internals``: a reply that quotes the system prompt or a traceback is never sent.
Mentions are left as text: ``@everyone`` stays the literal word (the bot sends with ``AllowedMentions.none()``);
nothing here ever writes ``<@id>`` or ``<@&id>`` syntax.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DISCORD_LIMIT = 2000
# Tokens of common chat templates (ChatML, Llama 3, Gemma, Phi): whatever follows one is not the persona's reply.
TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z_]+\|>|<(?:start|end)_of_turn>|</s>")
SENTENCE_END = re.compile(r"[.!?…。！？][)\]\"'»”’]*(?=\s)")
MIN_PART_SHARE = 0.3   # a boundary earlier than this share of the limit makes a uselessly short part: try the next kind
PROMPT_PROBE_CHARS = 40  # this much of the system prompt quoted in a reply counts as a leak
INTERNAL_MARKERS = ("Traceback (most recent call last)", "InferenceError:")
# A reply cut by the token limit: where it may end. Latin marks need a space, an emoji or the end after them, so
# "3.5" and "example.com" are no ends; CJK marks are followed by the next character directly.
CUT_SENTENCE_END = re.compile(r"(?:[.!?…]+|(?P<wide>[。！？]+))[)\]}\"'»”’」』）】]*")
CUT_CLAUSE_MARK = re.compile(r"[,;:](?=\s|$)|[，、；：—]|(?<=\s)–|–(?=\s)")  # an unspaced en dash is a range: 3–5
EMOJI_JOINERS = "\u200d\ufe0f\u20e3"  # zero-width joiner, emoji presentation selector, keycap
CUT_TRAILING_JUNK = " \t\n,;:—–-([{\"'“‘«「『（【"  # left before an added "…" when the words before it are kept
ELLIPSIS = "…"
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e"}  # their "." ends no sentence


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


def trim_cut_reply(text: str) -> str:
    """A reply that the token limit cut off, ended at a boundary: its last sentence end (closing quotes, brackets
    and emoji after the mark kept) or line break; else its last clause mark, replaced by "…"; else its last whole
    word, then "…". "" when none leaves any words (one long word, unpunctuated CJK): never a cut word."""
    whole_last_word = text[-1:].isspace()  # whitespace after the cut: the final word was finished
    text = text.rstrip()
    ends = [end for end in _sentence_ends(text) if _has_words(text[:end])]
    if ends:
        return text[:max(ends)].rstrip()
    marks = [match.start() for match in CUT_CLAUSE_MARK.finditer(text) if _has_words(text[:match.start()])]
    if marks:
        return text[:max(marks)].rstrip(CUT_TRAILING_JUNK) + ELLIPSIS
    if not whole_last_word:
        space = re.search(r"\s\S*$", text)
        text = text[:space.start()] if space else ""
    text = text.rstrip(CUT_TRAILING_JUNK)
    return text + ELLIPSIS if _has_words(text) else ""


def _sentence_ends(text: str) -> list[int]:
    """Where a cut reply may end after a whole sentence or line (end offsets into ``text``)."""
    ends = [index for index, char in enumerate(text) if char == "\n"]
    for match in CUT_SENTENCE_END.finditer(text):
        after = text[match.end():match.end() + 1]
        if after and not (match.group("wide") or after.isspace() or _is_emoji(after)):
            continue  # a mark inside a word: "3.5", "example.com"
        if match.group() == "." and _dot_goes_on(text[:match.start()], at_cut=not after):
            continue
        ends.append(_after_emoji(text, match.end()))
    return ends


def _dot_goes_on(before: str, at_cut: bool) -> bool:
    """Whether a "." after ``before`` ends no sentence: an abbreviation ("Mr."), or at the cut, a number or an address
    that the next token may have continued ("3." of "3.5", "example." of "example.com")."""
    words = before.split()
    word = words[-1] if words else ""
    if word.lower().lstrip("([{\"'“‘«") in ABBREVIATIONS:
        return True
    return at_cut and (word[-1:].isdigit() or any(char in word for char in "./:@"))


def _after_emoji(text: str, position: int) -> int:
    """``position`` moved past the emoji that follow a sentence mark ("minds! 🌱"), spaces between them included."""
    end = position
    while True:
        cursor = end
        while cursor < len(text) and text[cursor] in " \t":
            cursor += 1
        if cursor == len(text) or not _is_emoji(text[cursor]):
            return end if text[end - 1:end] != "\u200d" else end - 1  # a joiner left dangling by the cut
        while cursor < len(text) and _is_emoji(text[cursor]):
            cursor += 1
        end = cursor


def _is_emoji(char: str) -> bool:
    # Emoji are "other symbols"; skin tones are modifier symbols; joiners glue sequences such as 👩‍💻 together.
    return unicodedata.category(char) == "So" or char in EMOJI_JOINERS or "\U0001F3FB" <= char <= "\U0001F3FF"


def _has_words(text: str) -> bool:
    return any(char.isalnum() or _is_emoji(char) for char in text)


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
