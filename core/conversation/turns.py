"""The plain data every stage shares: who speaks (``Persona``), where (``Place``), and what (``Turn``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Persona:
    id: int
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    server: str
    channel: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One speaker's consecutive messages (merged within the merge window), already cleaned and scrubbed."""
    speaker_id: int
    speaker_name: str
    text: str
    created_at: datetime
    message_id: int | None = None        # the turn's first message
    reply_to_id: int | None = None       # the message this turn replies to, if any
    message_ids: tuple[int, ...] = ()    # every message merged into the turn (reply links may point at any)
    reactions: int = 0                   # reactions earned by the turn's messages
    # Filled on first use, because one turn appears in the contexts of many targets: its estimated token cost and
    # its "Name: text" line.
    estimated_cost: int | None = field(default=None, init=False, repr=False, compare=False)
    labelled: str | None = field(default=None, init=False, repr=False, compare=False)
