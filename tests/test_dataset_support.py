"""Helpers for the dataset tests (no tests here): a small Discord history written through the real storage API,
readers for the prepared files, and discord.py-like live message objects built from stored rows."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from storage.messages import write_batch
from storage.rows import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow

DISCORD_EPOCH_MS = 1_420_070_400_000
START = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
GUILD_ID = 900_000_000_000_000_001
OUTPUT_FILES = ("train.jsonl", "val.jsonl", "test.jsonl", "dpo.jsonl", "stats.json", "preview.txt")


def snowflake(moment: datetime, counter: int) -> int:
    milliseconds = int(moment.timestamp() * 1000)
    return ((milliseconds - DISCORD_EPOCH_MS) << 22) | (counter & 0x3FFFFF)


@dataclass
class History:
    """Builds users, channels and messages; ``write(conn)`` stores them with ``storage.messages.write_batch``."""
    guild_name: str = "Test Server"
    clock: datetime = START
    batch: MessageBatch = field(default_factory=MessageBatch)
    counter: int = 0

    def __post_init__(self):
        self.batch.guilds[GUILD_ID] = GuildRow(GUILD_ID, self.guild_name)

    def user(self, user_id: int, name: str, display_name: str | None = None, bot: bool = False) -> int:
        self.batch.users[user_id] = UserRow(user_id, name.lower().replace(" ", "_"), display_name or name, bot)
        return user_id

    def channel(self, channel_id: int, name: str, kind: str = "GuildTextChat", parent: int | None = None) -> int:
        self.batch.channels[channel_id] = ChannelRow(channel_id, GUILD_ID, kind, name, parent)
        return channel_id

    def say(self, channel_id: int, author_id: int, content: str, *, after: float = 20.0, reply_to: int | None = None,
            reactions: int = 0, kind: str | None = None, mentions: tuple[int, ...] = (),
            attachments: tuple[str, ...] = ()) -> int:
        self.clock += timedelta(seconds=after)
        self.counter += 1
        message_id = snowflake(self.clock, self.counter)
        self.batch.messages.append(MessageRow(
            message_id, channel_id, author_id, self.clock.isoformat(timespec="microseconds"), None,
            kind or ("Reply" if reply_to else "Default"), content, reply_to, tuple(sorted(mentions)), attachments,
            False, (("👍", reactions),) if reactions else ()))
        return message_id

    def write(self, conn) -> None:
        write_batch(conn, self.batch)


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def output_text(folder: Path) -> str:
    """Every output file of a dataset folder (per-persona subfolders included), concatenated."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.rglob("*")) if path.is_file())


def live_messages(conn, channel_id: int, until_id: int | None = None) -> list[SimpleNamespace]:
    """discord.py-like objects for a stored channel's messages (before ``until_id``), as the bot would see them."""
    rows = conn.execute(
        "SELECT m.id, m.author_id, u.display_name, u.name, u.is_bot, m.type, m.content, m.created_at, m.reply_to_id,"
        " m.mentions, m.attachment_count, (SELECT COALESCE(SUM(count), 0) FROM reactions r WHERE r.message_id = m.id)"
        " FROM messages m JOIN users u ON u.id = m.author_id WHERE m.channel_id = ? ORDER BY m.id DESC",
        (channel_id,)).fetchall()
    found = []
    for (message_id, author_id, display_name, name, is_bot, kind, content, created_at, reply_to, mentions,
         attachments, reactions) in rows:
        if until_id is not None and message_id >= until_id:
            continue
        mentioned = []
        for user_id in json.loads(mentions):
            user = conn.execute("SELECT display_name, name FROM users WHERE id = ?", (user_id,)).fetchone()
            if user:
                mentioned.append(SimpleNamespace(id=user_id, display_name=user[0], name=user[1]))
        found.append(SimpleNamespace(
            id=message_id, content=content, created_at=datetime.fromisoformat(created_at), type=kind,
            author=SimpleNamespace(id=author_id, display_name=display_name, name=name, bot=bool(is_bot)),
            reference=SimpleNamespace(message_id=reply_to) if reply_to else None, mentions=mentioned,
            attachments=[object()] * attachments,
            reactions=[SimpleNamespace(count=reactions)] if reactions else []))
    return found  # newest first, like discord.py's channel.history()
