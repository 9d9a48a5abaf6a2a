"""Message text as the model sees it: speaker names, mentions, opted-out users' names, then personal-data scrubbing.

``NameBook`` decides what a user is called everywhere (a persona's edited name, else the display name, else the user
name; an opted-out or unknown user is the neutral "someone": display names are personal data too). ``TextCleaner``
rewrites one message's text with it: raw ``<@id>`` mentions and DiscordChatExporter's ``@DisplayName`` mentions
become ``@Label``, opted-out users' names (mentioned or written plainly) become "someone", ``<#id>`` becomes
``#channel``, custom emoji ``<:name:id>`` become ``:name:``, then the Scrubber replaces personal data.

Name matching, always at token boundaries (a name never matches inside a longer word: "Max" is not "@Maximilian"):
- a renamed persona's ``@DisplayName`` mention becomes ``@NewName`` only where the whole name stands;
- an opted-out name after ``@`` is hidden in any case and at any length;
- written plainly, a name of 3+ characters is hidden as spelled (an opted-out "Max" hides "Max", not "the max
  value"); a 2-character name only as spelled and with a capital ("Jo", "AL", not "jo" or "al" in "et al"), and if
  it is also a common word ("So", "No", "Me") not where it starts a sentence; a 1-character name only after ``@``;
- channel, thread and forum titles (``hide_in_title``, for the Place in system prompts) hide names of 2+
  characters in any case ("eve's birthday", "gift for jo"; a common word like "So" keeps the message rule), since a
  title reaches every prompt of its conversations and a mangled title costs little.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from core.conversation.scrub import Scrubber

NEUTRAL_NAME = "someone"
ATTACHMENT_MARKER = "[attachment]"  # a message with files and no text still shows that something was posted
RAW_USER_MENTION = re.compile(r"<@!?(\d{1,21})>")
ROLE_MENTION = re.compile(r"<@&\d{1,21}>")
CHANNEL_MENTION = re.compile(r"<#(\d{1,21})>")
CUSTOM_EMOJI = re.compile(r"<a?(:\w{1,32}:)\d{1,21}>")
EXTRA_BLANK_LINES = re.compile(r"\n\s*\n(?:\s*\n)+")
CASED_PLAIN_ALIAS = 3  # names this long are hidden plainly as spelled; shorter ones need a capital (see above)
# Two-letter words that start ordinary sentences: as an opted-out name they are hidden plainly only mid-sentence.
COMMON_SHORT_WORDS = frozenset(
    "ah am an as at aw be by do eh go ha he hi hm if in is it lo ma me my no of oh ok on or ow oy pa so to uh um up "
    "us we ya ye yo".split())
SENTENCE_END = ".!?\n"
OPENING_MARKS = " \t\"'(*_~>"  # quotes and markdown that may stand between a sentence end and its first word


class NameBook:
    """Labels for users: overrides (persona names) > display name > user name; opted-out or unknown → "someone".

    ``loader(user_id) -> (display_name, name) | None`` fills in users not added explicitly (the database in
    ``prepare``); ``opted_out`` maps each opted-out user id to the names they may be written as.
    """

    def __init__(self, scrubber: Scrubber, *, overrides: Mapping[int, str] | None = None,
                 opted_out: Mapping[int, Iterable[str]] | Iterable[int] = (),
                 loader: Callable[[int], tuple[str | None, str | None] | None] | None = None):
        self.scrubber = scrubber
        self.overrides = dict(overrides or {})
        if isinstance(opted_out, Mapping):
            self.opted_out = {int(uid): tuple(a for a in aliases if a) for uid, aliases in opted_out.items()}
        else:
            self.opted_out = {int(uid): () for uid in opted_out}
        self.loader = loader
        self._entries: dict[int, tuple[str | None, str | None]] = {}
        self._labels: dict[int, str] = {}
        self.hidden_names = compile_hidden_names(alias for aliases in self.opted_out.values() for alias in aliases)
        self._title_names: re.Pattern | None | bool = False  # compiled on first use

    def hide(self, text: str) -> str:
        """``text`` with every opted-out name replaced by "someone" (``@someone`` after ``@``)."""
        if self.hidden_names is None or not text:
            return text
        return self.hidden_names.sub(replace_hidden_name, text)

    def hide_in_title(self, text: str) -> str:
        """Like ``hide``, for a channel, thread or forum title: 3+ character names in any case too."""
        if self._title_names is False:
            self._title_names = compile_hidden_names(
                (alias for aliases in self.opted_out.values() for alias in aliases), any_case=True)
        if self._title_names is None or not text:
            return text
        return self._title_names.sub(replace_hidden_name, text)

    def add(self, user_id: int, display_name: str | None, name: str | None) -> None:
        if user_id not in self._entries:
            self._entries[user_id] = (display_name, name)

    def aliases(self, user_id: int) -> tuple[str, ...]:
        """The raw names a user may appear as after ``@`` in exported text."""
        entry = self._entry(user_id)
        return tuple(dict.fromkeys(n for n in (entry or (None, None)) if n))

    def label(self, user_id: int) -> str:
        label = self._labels.get(user_id)
        if label is None:
            label = self._labels[user_id] = self._make_label(user_id)
        return label

    def is_opted_out(self, user_id: int) -> bool:
        return user_id in self.opted_out

    def _entry(self, user_id: int):
        entry = self._entries.get(user_id)
        if entry is None and self.loader is not None:
            entry = self.loader(user_id)
            self._entries[user_id] = entry or (None, None)
        return entry

    def _make_label(self, user_id: int) -> str:
        if user_id in self.opted_out:
            return NEUTRAL_NAME
        raw = self.overrides.get(user_id)
        if not raw:
            display_name, name = self._entry(user_id) or (None, None)
            raw = display_name or name
        label = " ".join((raw or "").split())  # one line: the label starts a "Name: text" line
        return self.scrubber.scrub(label) if label else NEUTRAL_NAME


def compile_hidden_names(aliases: Iterable[str], *, any_case: bool = False) -> re.Pattern | None:
    """One pattern for every opted-out name, longest first, as a whole word (the rules in the module docstring):
    group 1 is "@" for a mention; ``any_case``: the looser title rules."""
    names = sorted({a for a in aliases if a}, key=len, reverse=True)
    if not names:
        return None
    mentioned = "|".join(re.escape(name) for name in names)
    plain = [f"(?i:{re.escape(name)})" if any_case and title_any_case(name) else re.escape(name)
             for name in names if plain_matchable(name) or any_case and title_any_case(name)]
    written = rf"|()(?<![\w@])(?:{'|'.join(plain)})(?!\w)" if plain else ""
    return re.compile(rf"(@)(?i:{mentioned})(?!\w){written}")


def plain_matchable(name: str) -> bool:
    if len(name) >= CASED_PLAIN_ALIAS:
        return True
    return len(name) == 2 and any(char.isupper() for char in name)


def title_any_case(name: str) -> bool:
    return len(name) >= CASED_PLAIN_ALIAS or len(name) == 2 and name.lower() not in COMMON_SHORT_WORDS


def replace_hidden_name(match: re.Match) -> str:
    if match.group(1):
        return "@" + NEUTRAL_NAME
    found = match.group(0)
    if len(found) == 2 and found.lower() in COMMON_SHORT_WORDS:
        before = match.string[:match.start()].rstrip(OPENING_MARKS)
        if not before or before[-1] in SENTENCE_END:
            return found  # "So what?": the word, not the name, where it opens a sentence
    return NEUTRAL_NAME


class TextCleaner:
    """Cleans one message's text; ``channel_names`` gives ``<#id>`` mentions their names."""

    def __init__(self, names: NameBook, channel_names: Mapping[int, str] | Callable[[int], str | None] | None = None):
        self.names = names
        self.scrubber = names.scrubber
        self._channel_names = channel_names

    def clean(self, content: str, mentioned: Iterable[int] = (), attachment_count: int = 0) -> str:
        text = content or ""
        if text:
            if "<" in text:
                text = self._rewrite_markup(text)
            if mentioned:
                text = self._rewrite_exported_mentions(text, mentioned)
            text = self.names.hide(text)
            text = self.scrubber.scrub(text).strip()
            if "\n" in text:
                text = EXTRA_BLANK_LINES.sub("\n\n", text)
        if not text and attachment_count:
            return ATTACHMENT_MARKER
        return text

    def _rewrite_markup(self, text: str) -> str:
        text = RAW_USER_MENTION.sub(lambda m: "@" + self.names.label(int(m.group(1))), text)
        text = ROLE_MENTION.sub("@role", text)
        text = CHANNEL_MENTION.sub(lambda m: "#" + self._channel_name(int(m.group(1))), text)
        return CUSTOM_EMOJI.sub(r"\1", text)

    def _rewrite_exported_mentions(self, text: str, mentioned: Iterable[int]) -> str:
        """DiscordChatExporter writes mentions as ``@DisplayName``: relabel renamed personas and opted-out users."""
        if "@" not in text:
            return text
        relabel: dict[str, str] = {}
        for user_id in mentioned:
            label = self.names.label(user_id)
            for alias in self.names.aliases(user_id):
                if alias != label and "@" + alias in text:
                    relabel.setdefault(alias, label)
        if not relabel:
            return text
        # one pass, longest name first, whole names only: renaming "Max" leaves "@Maximilian" alone
        pattern = "@(" + "|".join(re.escape(a) for a in sorted(relabel, key=len, reverse=True)) + r")(?!\w)"
        return re.sub(pattern, lambda m: "@" + relabel[m.group(1)], text)

    def _channel_name(self, channel_id: int) -> str:
        lookup = self._channel_names
        name = None
        if callable(lookup):
            name = lookup(channel_id)
        elif lookup is not None:
            name = lookup.get(channel_id)
        return name or "channel"
