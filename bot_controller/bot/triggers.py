"""When the bot answers: pure functions over plain facts about a message, the settings and a small rate state.

- never: its own messages, other bots, webhooks, system messages, messages older than ``max_age_seconds`` (after a
  restart or a long queue the bot must not answer a backlog);
- always (in any channel it can read, within the global replies-per-minute limit): a mention of the bot or a reply
  to one of its messages;
- otherwise, in allowlisted channels and unless ``mentions_only``: with probability ``rate``, at most once per
  ``cooldown_seconds`` per channel.
``Incoming.from_message`` is the only code here that touches a discord.py object (duck-typed, so tests use fakes).
"""
from __future__ import annotations

import random as random_module
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

RATE_WINDOW_SECONDS = 60.0
ANSWERED_TYPES = ("default", "reply")  # discord.MessageType names people write; joins, pins and boosts are not


@dataclass(frozen=True)
class Incoming:
    """What a trigger decision needs to know about one message."""
    message_id: int
    channel_id: int
    parent_id: int | None       # a thread's channel (its allowlist and persona apply)
    author_id: int
    author_is_bot: bool
    webhook: bool
    system: bool
    created_at: datetime
    mentions_bot: bool
    replies_to_bot: bool

    @classmethod
    def from_message(cls, message, bot_user_id: int, replied_author_id: int | None = None) -> "Incoming":
        """``replied_author_id``: the author of the message it replies to, when the caller resolved it."""
        channel = message.channel
        kind = getattr(getattr(message, "type", None), "name", str(getattr(message, "type", "default")))
        reference = getattr(message, "reference", None)
        resolved = getattr(reference, "resolved", None) if reference is not None else None
        if replied_author_id is None and resolved is not None and getattr(resolved, "author", None) is not None:
            replied_author_id = int(resolved.author.id)
        mentions = {int(user.id) for user in getattr(message, "mentions", None) or ()}
        return cls(message_id=int(message.id), channel_id=int(channel.id),
                   parent_id=getattr(channel, "parent_id", None), author_id=int(message.author.id),
                   author_is_bot=bool(getattr(message.author, "bot", False)),
                   webhook=getattr(message, "webhook_id", None) is not None,
                   system=str(kind).lower() not in ANSWERED_TYPES, created_at=message.created_at,
                   mentions_bot=bot_user_id in mentions, replies_to_bot=replied_author_id == bot_user_id)


@dataclass
class RateState:
    """Per-channel time of the last unaddressed reply and the times of recent replies (monotonic seconds)."""
    last_reply: dict[int, float] = field(default_factory=dict)
    recent: deque = field(default_factory=deque)

    def record(self, channel_id: int, now: float) -> None:
        self.last_reply[channel_id] = now
        self.recent.append(now)

    def replies_in_window(self, now: float) -> int:
        while self.recent and now - self.recent[0] >= RATE_WINDOW_SECONDS:
            self.recent.popleft()
        return len(self.recent)


@dataclass(frozen=True)
class Decision:
    answer: bool
    reason: str          # why (for the log and tests): "mention", "reply", "chance", "ignored: ...", ...
    addressed: bool = False


def decide(message: Incoming, *, bot_user_id: int, allowlist: frozenset[int] | set[int], rate: float,
           mentions_only: bool, cooldown_seconds: float, replies_per_minute: int, max_age_seconds: float,
           state: RateState, now: float, wall_now: datetime | None = None,
           random: Callable[[], float] = random_module.random) -> Decision:
    """Whether to answer ``message`` now. ``now``: monotonic seconds (rate state); ``wall_now``: UTC time."""
    if message.author_id == bot_user_id:
        return Decision(False, "ignored: own message")
    if message.webhook:
        return Decision(False, "ignored: webhook")
    if message.author_is_bot:
        return Decision(False, "ignored: bot")
    if message.system:
        return Decision(False, "ignored: system message")
    wall_now = wall_now or datetime.now(timezone.utc)
    created = message.created_at if message.created_at.tzinfo else message.created_at.replace(tzinfo=timezone.utc)
    if (wall_now - created).total_seconds() > max_age_seconds:
        return Decision(False, "ignored: too old")
    allowed = message.channel_id in allowlist or (message.parent_id is not None and message.parent_id in allowlist)
    addressed = message.mentions_bot or message.replies_to_bot
    if not allowed and not addressed:
        return Decision(False, "ignored: channel not allowlisted")
    if replies_per_minute <= 0 or state.replies_in_window(now) >= replies_per_minute:
        return Decision(False, "ignored: replies-per-minute limit", addressed)
    if addressed:
        return Decision(True, "mention" if message.mentions_bot else "reply", True)
    if mentions_only:
        return Decision(False, "ignored: mentions only")
    last = state.last_reply.get(message.channel_id)
    if last is not None and now - last < cooldown_seconds:
        return Decision(False, "ignored: channel cooldown")
    if random() >= rate:
        return Decision(False, "ignored: chance")
    return Decision(True, "chance")
