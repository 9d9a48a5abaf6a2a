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


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    display_name: str | None
    is_bot: bool = False


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

    def __len__(self) -> int:
        return len(self.messages)
