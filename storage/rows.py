"""The rows the database stores, as plain frozen dataclasses (built by core.ingest.records normalisers)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GuildRow:
    id: int
    name: str
    icon_url: str | None = None


@dataclass(frozen=True)
class ChannelRow:
    id: int
    guild_id: int | None
    kind: str
    name: str
    parent_id: int | None = None
    category: str | None = None
    topic: str | None = None
    everyone_reads: bool | None = None  # whether @everyone may read it (a live fetch says); None: unknown, and a
    #                                     stored value stays (an export does not say)


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    display_name: str | None
    is_bot: bool | None = False   # None: the source does not say (a CSV export), so a stored flag stays


@dataclass(frozen=True)
class MessageRow:
    id: int
    channel_id: int
    author_id: int
    created_at: str
    edited_at: str | None
    type: str
    content: str
    reply_to_id: int | None = None
    mentions: tuple[int, ...] = ()
    attachment_urls: tuple[str, ...] = ()
    pinned: bool = False
    reactions: tuple[tuple[str, int], ...] = field(default=())  # (emoji, count)
    reference_id: int | None = None         # the referenced message of any reference (reply, pin, forward...)
    reference_kind: str | None = None       # core.ingest.records.reference_kind; None without a reference
    forwarded_content: str | None = None    # a forward's forwarded text (content stays what the author wrote)
    visible_text: str | None = None         # embed titles/descriptions and sticker names the message shows

    @property
    def attachment_count(self) -> int:
        return len(self.attachment_urls)


@dataclass
class MessageBatch:
    """Everything one transaction writes: the messages plus the users and channels they refer to."""
    messages: list[MessageRow] = field(default_factory=list)
    users: dict[int, UserRow] = field(default_factory=dict)
    channels: dict[int, ChannelRow] = field(default_factory=dict)
    guilds: dict[int, GuildRow] = field(default_factory=dict)
    seen_at: str | None = None  # when the source saw these messages (export time); None: now (a live fetch)

    def __len__(self) -> int:
        return len(self.messages)
