"""The ``chat`` playground's side of the wire and of the database: stored messages as the bot would see them.

- ``ChatLine`` (request, app -> chat worker) and ``ChatReplied`` (event, worker -> app) carry an interactive session
  over the job runner's wire: one worker keeps the model loaded and answers line after line. In compare mode
  (``core.prompting.compare``) it keeps two models and answers each line twice, side "a" then side "b".
- ``recent_messages`` reads a channel's latest stored messages as discord.py-like objects, so the playground feeds
  them through ``core.prompting.live.turns_from_live`` exactly as the bot feeds live messages; ``typed_message`` makes
  the line a person typed into one more such message.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from core.conversation.turns import Place
from core.jobs.events import Event, Request, register_event, register_request
from core.prompting.live import make_place
from storage.consent import opted_out_users

PLAYGROUND_USER_ID = 1          # the person typing (no Discord user has id 1)
PLAYGROUND_USER_NAME = "You"
TYPING_GAP = timedelta(minutes=1)  # typed lines follow the stored conversation closely enough to continue it
RECENT = ("SELECT m.id, m.author_id, u.name, u.display_name, COALESCE(u.is_bot, 0), m.content, m.created_at, m.type, "
          "m.reply_to_id, m.mentions, m.attachment_count, "
          "(SELECT COALESCE(SUM(r.count), 0) FROM reactions r WHERE r.message_id = m.id) "
          "FROM messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.channel_id = ? ORDER BY m.id DESC LIMIT ?")


@register_request("chat-line")
@dataclass(frozen=True)
class ChatLine(Request):
    """A line typed in the playground, for the persona to answer."""
    text: str = ""


@register_event("chat-replied")
@dataclass(frozen=True)
class ChatReplied(Event):
    """The persona's answer to a ChatLine (``text`` empty and ``dropped_reason`` set when nothing is sent); ``side``
    is "a" or "b" in compare mode (which model answered), "" with one model."""
    text: str = ""
    parts: list[str] = field(default_factory=list)
    dropped_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    side: str = ""


def channel_place(conn: sqlite3.Connection, channel_id: int | None) -> Place:
    if channel_id is None:
        return make_place(None, "playground")
    row = conn.execute("SELECT c.name, g.name FROM channels c LEFT JOIN guilds g ON g.id = c.guild_id "
                       "WHERE c.id = ?", (channel_id,)).fetchone()
    if not row:
        return make_place(None, "playground")
    return make_place(row[1], row[0], opted_out=opted_out_users(conn))  # a title naming them hides the name


def _user(conn: sqlite3.Connection, user_id: int, cache: dict) -> SimpleNamespace:
    if user_id not in cache:
        row = conn.execute("SELECT name, display_name, is_bot FROM users WHERE id = ?", (user_id,)).fetchone()
        name, display, bot = row if row else (str(user_id), None, 0)
        cache[user_id] = SimpleNamespace(id=user_id, name=name, display_name=display or name, bot=bool(bot))
    return cache[user_id]


def recent_messages(conn: sqlite3.Connection, channel_id: int, limit: int = 100) -> list[SimpleNamespace]:
    """The channel's newest ``limit`` stored messages, oldest first, shaped like discord.py messages."""
    users: dict[int, SimpleNamespace] = {}
    messages = []
    for (message_id, author_id, name, display, bot, content, created, kind, reply_to, mentions, attachments,
         reactions) in conn.execute(RECENT, (channel_id, limit)).fetchall():
        if author_id not in users:
            users[author_id] = SimpleNamespace(id=author_id, name=name or str(author_id),
                                               display_name=display or name, bot=bool(bot))
        mentioned = [_user(conn, int(user_id), users) for user_id in json.loads(mentions or "[]")]
        messages.append(SimpleNamespace(
            id=message_id, author=users[author_id], content=content, created_at=datetime.fromisoformat(created),
            type=kind, reference=SimpleNamespace(message_id=reply_to) if reply_to else None, mentions=mentioned,
            attachments=[None] * int(attachments or 0), reactions=[SimpleNamespace(count=reactions)] if reactions
            else []))
    return messages[::-1]


def typed_message(history: list, text: str, *, author_id: int = PLAYGROUND_USER_ID,
                  author_name: str = PLAYGROUND_USER_NAME) -> SimpleNamespace:
    """A message with ``text`` right after ``history`` (the next id, a minute later; now for an empty history)."""
    if history:
        message_id = max(int(message.id) for message in history) + 1
        created_at = max(message.created_at for message in history) + TYPING_GAP
    else:
        message_id, created_at = 1_000, datetime.now(timezone.utc)
    author = SimpleNamespace(id=author_id, name=author_name, display_name=author_name, bot=False)
    return SimpleNamespace(id=message_id, author=author, content=text, created_at=created_at, type="Default",
                           reference=None, mentions=[], attachments=[], reactions=[])
