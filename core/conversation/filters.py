"""Which messages enter a conversation, and which turns may be training targets; every drop is counted by reason.

Message level (``Admission.admit``), in this order: ``opted_out`` (the message is removed and the conversation's
context is cut there), ``bot``, ``system`` (joins, pins, thread notices...), ``command`` (``!play``, slash
commands), ``empty`` (no text and no attachment), ``spam`` (an author repeating the same text). Admitted messages are
cleaned (names, mentions, scrubbing) into ``SourceMessage``s for the threader.

Target level (``target_reason``): ``attachment_only``, ``link_only``, ``too_short``; the example builder adds
``no_context`` (nothing before the target in its conversation fits the context).
"""
from __future__ import annotations

import re
from collections import Counter, deque
from datetime import datetime

from core.conversation.text import ATTACHMENT_MARKER, TextCleaner
from core.conversation.threading import SourceMessage
from core.ingest.records import USER_MESSAGE_TYPES

COMMAND_TYPES = frozenset({"ChatInputCommand", "ContextMenuCommand"})
COMMAND = re.compile(r"[!?/$;%][A-Za-z][\w-]*")  # "!play", "?rank", "/shrug", "$help"; not "> quote" or "..."
URL = re.compile(r"<?https?://\S+>?")
SPAM_WINDOW = 20  # an author's recent messages per channel in which a repeated text counts as spam
BARRIER = "opted_out"

MESSAGE_REASONS = ("opted_out", "bot", "system", "command", "empty", "spam")
TARGET_REASONS = ("attachment_only", "link_only", "too_short", "no_context")


class SpamTracker:
    """The same text from one author more than ``limit`` times among their last SPAM_WINDOW messages is spam."""

    def __init__(self, limit: int):
        self.limit = limit
        self._recent: dict[int, deque] = {}

    def is_spam(self, author_id: int, content: str) -> bool:
        if self.limit <= 0:
            return False
        key = hash(content.strip().lower())
        recent = self._recent.get(author_id)
        if recent is None:
            recent = self._recent[author_id] = deque(maxlen=SPAM_WINDOW)
        repeated = recent.count(key) >= self.limit
        recent.append(key)
        return repeated


class Admission:
    """Admits or rejects one channel's messages (create one per channel: spam windows are per channel)."""

    def __init__(self, cleaner: TextCleaner, spam_limit: int, counts: Counter):
        self.cleaner = cleaner
        self.names = cleaner.names
        self.spam = SpamTracker(spam_limit)
        self.counts = counts

    def admit(self, message_id: int, author_id: int, is_bot: bool, message_type: str, content: str,
              created_at: datetime, reply_to_id: int | None, mentioned, attachment_count: int,
              reactions: int) -> SourceMessage | str:
        """A cleaned SourceMessage, or the reason the message is left out (BARRIER for an opted-out author)."""
        reason = self._reject(author_id, is_bot, message_type, content, attachment_count)
        if reason is not None:
            self.counts[reason] += 1
            return reason
        text = self.cleaner.clean(content, mentioned, attachment_count)
        if not text:
            self.counts["empty"] += 1
            return "empty"
        return SourceMessage(message_id, author_id, self.names.label(author_id), created_at, created_at.timestamp(),
                             text, reply_to_id, reactions)

    def _reject(self, author_id, is_bot, message_type, content, attachment_count) -> str | None:
        if self.names.is_opted_out(author_id):
            return BARRIER
        if is_bot:
            return "bot"
        if message_type not in USER_MESSAGE_TYPES:
            return "system"
        if message_type in COMMAND_TYPES or (content and COMMAND.match(content)):
            return "command"
        if not content.strip() and not attachment_count:
            return "empty"
        if content and self.spam.is_spam(author_id, content):
            return "spam"
        return None


def target_text(text: str) -> str:
    """A turn's text as a training target: attachment markers are context, not something to learn to write."""
    if ATTACHMENT_MARKER not in text:
        return text
    lines = [line for line in text.split("\n") if line.strip() != ATTACHMENT_MARKER]
    return "\n".join(lines).strip()


def target_reason(text: str, min_chars: int) -> str | None:
    """Why a (target_text-cleaned) persona turn cannot be a training target, or None."""
    if not text:
        return "attachment_only"
    if ("http" in text) and not URL.sub("", text).strip():
        return "link_only"
    if len(text) < min_chars:
        return "too_short"
    return None
