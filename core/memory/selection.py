"""Which messages go into the bot's memory, and as what text: the same admission and cleaning as the dataset.

A message is remembered only if a dataset could use it: never an opted-out user's, a bot's, a system message, a
command or an empty one (``core.conversation.filters.Admission``, with the spam filter off: a repeated line is still
one message to remember, and spam windows would make incremental runs disagree with full ones). Attachment-only
messages are skipped too (nothing to search for). The text is cleaned and scrubbed by ``TextCleaner``: names as
labels, opted-out users' names hidden, personal data replaced by placeholders, so nothing the dataset would hide
reaches the vector store. Stored rows are streamed from SQLite in id order (``stored_messages``), each with its
channel's server from the channels table (0 when unknown), so every memory row knows its guild and channel.
"""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from core.conversation.filters import Admission
from core.conversation.scrub import Scrubber
from core.conversation.text import ATTACHMENT_MARKER, TextCleaner
from core.dataset import source
from storage import consent as consent_store

SKIP_REASONS = ("opted_out", "bot", "system", "command", "empty", "attachment_only")
FETCH_ROWS = 4096
MESSAGES = ("SELECT m.id, m.channel_id, COALESCE(c.guild_id, 0), m.author_id, m.type, m.content, m.created_at, "
            "m.mentions, m.attachment_count FROM messages m LEFT JOIN channels c ON c.id = m.channel_id ORDER BY m.id")


@dataclass(frozen=True)
class MemoryMessage:
    """One message as the memory sees it, stored or live (the bot builds these from Discord messages)."""
    message_id: int
    channel_id: int
    author_id: int
    created_at: str              # ISO 8601 with a time zone
    content: str                 # raw text; cleaned and scrubbed here before anything is embedded
    is_bot: bool = False
    message_type: str = "Default"
    mentions: tuple[int, ...] = ()
    attachment_count: int = 0
    guild_id: int = 0            # the channel's server; 0 for a DM or a channel whose server is unknown


class MemorySelector:
    """Decides, message by message, the text to remember or the reason to skip; counts skips in ``skipped``."""

    def __init__(self, cleaner: TextCleaner, bots: Iterable[int] = ()):
        self.admission = Admission(cleaner, 0, Counter())
        self.bots = frozenset(bots)
        self.skipped = self.admission.counts

    @classmethod
    def from_database(cls, conn: sqlite3.Connection) -> "MemorySelector":
        """Current consent, names and bot flags from the database (call again after an opt-out)."""
        scrubber = Scrubber()
        opted_out = consent_store.opted_out_users(conn)
        cleaner = TextCleaner(source.name_book(conn, scrubber, opted_out), source.channel_names(conn, scrubber))
        return cls(cleaner, source.bot_ids(conn))

    @property
    def opted_out(self) -> frozenset[int]:
        return frozenset(self.admission.names.opted_out)

    def text_for(self, message: MemoryMessage) -> str | None:
        """The cleaned text to embed, or None (the reason is counted)."""
        result = self.admission.admit(message.message_id, message.author_id,
                                      message.is_bot or message.author_id in self.bots, message.message_type,
                                      message.content or "", datetime.fromisoformat(message.created_at), None,
                                      message.mentions, message.attachment_count, 0)
        if isinstance(result, str):
            return None
        text = "\n".join(line for line in result.text.split("\n") if line.strip() != ATTACHMENT_MARKER).strip()
        if not text:
            self.skipped["attachment_only"] += 1
            return None
        return text


def stored_messages(conn: sqlite3.Connection, skip_ids: set[int] | frozenset[int] = frozenset()
                    ) -> Iterator[MemoryMessage]:
    """Every stored message not in ``skip_ids``, oldest first (bot flags are applied by the selector)."""
    cursor = conn.execute(MESSAGES)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return
        for message_id, channel_id, guild_id, author_id, kind, content, created_at, mentions, attachments in rows:
            if message_id in skip_ids:
                continue
            yield MemoryMessage(message_id, channel_id, author_id, created_at, content or "",
                                message_type=kind, mentions=tuple(json.loads(mentions or "[]")),
                                attachment_count=attachments or 0, guild_id=guild_id)


def message_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def skip_summary(skipped: Mapping[str, int]) -> dict[str, int]:
    """The skip counts by reason, every reason present (0 when none)."""
    return {reason: int(skipped.get(reason, 0)) for reason in SKIP_REASONS}
