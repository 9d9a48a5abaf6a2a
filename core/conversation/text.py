"""Message text as the model sees it: speaker names, mentions, opted-out users' names, then personal-data scrubbing.

``NameBook`` decides what a user is called everywhere (a persona's edited name, else the display name, else the user
name; an opted-out or unknown user is the neutral "someone": display names are personal data too). ``TextCleaner``
rewrites one message's text with it: raw ``<@id>`` mentions and DiscordChatExporter's ``@DisplayName`` mentions
become ``@Label``, opted-out users' names (mentioned or written plainly) become "someone", ``<#id>`` becomes
``#channel``, custom emoji ``<:name:id>`` become ``:name:``, then the Scrubber replaces personal data.
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
MIN_PLAIN_ALIAS = 3  # shorter opted-out names ("Al") would blank out ordinary words when matched as plain text


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


def compile_hidden_names(aliases: Iterable[str]) -> re.Pattern | None:
    """One pattern for every opted-out name, longest first, as a whole word: after ``@`` in any case, written
    plainly only as spelled (so an opted-out "Max" hides "Max" but not "the max value")."""
    names = sorted({a for a in aliases if len(a) >= MIN_PLAIN_ALIAS}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(@)(?i:{alternatives})(?!\w)|()(?<![\w@])(?:{alternatives})(?!\w)")


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
            if self.names.hidden_names is not None:
                text = self.names.hidden_names.sub(lambda m: "@" + NEUTRAL_NAME if m.group(1) else NEUTRAL_NAME,
                                                   text)
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
        for user_id in mentioned:
            label = self.names.label(user_id)
            for alias in self.names.aliases(user_id):
                if alias != label and "@" + alias in text:
                    text = text.replace("@" + alias, "@" + label)
        return text

    def _channel_name(self, channel_id: int) -> str:
        lookup = self._channel_names
        name = None
        if callable(lookup):
            name = lookup(channel_id)
        elif lookup is not None:
            name = lookup.get(channel_id)
        return name or "channel"
