"""Threading one channel's admitted messages (in id order) into conversations of merged turns.

Rules:
- a silence longer than the gap starts a new conversation, unless the message replies to a message of the current
  conversation (a reply links across the gap);
- one author's consecutive messages within the merge window (measured from their previous message) merge into one
  turn, up to MAX_TURN_MESSAGES messages / MAX_TURN_CHARS characters so a monologue does not become one huge turn;
- an opted-out user's message is a barrier: it is never a turn, and the turns before it are dropped from the
  conversation's history, so no later context reaches past it.
The listener sees each turn when it closes, *before* it joins the history (so the history is exactly what preceded
it), plus ``on_cut`` at a barrier and ``on_end`` when a conversation ends. Only the last HISTORY_TURNS turns are
kept (with an index by message id for reply chains): memory does not grow with the channel.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.conversation.turns import Turn

HISTORY_TURNS = 256       # context needs ~12 turns; reply chains may reach further back, rarely beyond this
MAX_TURN_MESSAGES = 10
MAX_TURN_CHARS = 1500     # keeps one merged turn well inside the context token budget


@dataclass(slots=True)
class SourceMessage:
    """An admitted, cleaned message."""
    id: int
    author_id: int
    speaker_name: str
    created_at: datetime
    timestamp: float
    text: str
    reply_to_id: int | None = None
    reactions: int = 0


class Conversation:
    __slots__ = ("id", "first_message_id", "history", "index", "split", "state")

    def __init__(self, channel_id: int, first_message_id: int):
        self.id = f"{channel_id}-{first_message_id}"
        self.first_message_id = first_message_id
        self.history: deque[Turn] = deque()
        self.index: dict[int, Turn] = {}
        self.split: str | None = None   # set by the example builder on first use
        self.state: object = None       # listener-owned state (pending DPO candidates)

    def append(self, turn: Turn) -> None:
        if len(self.history) >= HISTORY_TURNS:
            for message_id in self.history.popleft().message_ids:
                self.index.pop(message_id, None)
        self.history.append(turn)
        for message_id in turn.message_ids:
            self.index[message_id] = turn

    def cut(self) -> None:
        self.history.clear()
        self.index.clear()


class Listener(Protocol):
    def on_turn(self, conversation: Conversation, turn: Turn) -> None: ...
    def on_cut(self, conversation: Conversation) -> None: ...
    def on_end(self, conversation: Conversation) -> None: ...


@dataclass(slots=True)
class OpenTurn:
    first: SourceMessage
    texts: list[str]
    message_ids: list[int]
    last_timestamp: float
    reply_to_id: int | None
    reactions: int
    chars: int = 0
    pieces: int = 1

    def close(self) -> Turn:
        first = self.first
        return Turn(first.author_id, first.speaker_name, "\n".join(self.texts), first.created_at, first.id,
                    self.reply_to_id, tuple(self.message_ids), self.reactions)


@dataclass
class Threader:
    channel_id: int
    listener: Listener
    gap_seconds: float
    merge_seconds: float
    conversation: Conversation | None = None
    open_turn: OpenTurn | None = None
    last_timestamp: float = field(default=float("-inf"))

    def push(self, message: SourceMessage) -> None:
        conversation = self.conversation
        if conversation is None or (message.timestamp - self.last_timestamp > self.gap_seconds
                                    and not self._links(message.reply_to_id)):
            self.close_turn()
            if conversation is not None:
                self.listener.on_end(conversation)
            self.conversation = Conversation(self.channel_id, message.id)
        elif self._merges(message):
            turn = self.open_turn
            turn.texts.append(message.text)
            turn.message_ids.append(message.id)
            turn.last_timestamp = message.timestamp
            turn.reactions += message.reactions
            turn.chars += len(message.text)
            turn.pieces += 1
            if turn.reply_to_id is None and message.reply_to_id not in turn.message_ids:
                turn.reply_to_id = message.reply_to_id
            self.last_timestamp = message.timestamp
            return
        else:
            self.close_turn()
        reply_to = message.reply_to_id if message.reply_to_id != message.id else None
        self.open_turn = OpenTurn(message, [message.text], [message.id], message.timestamp, reply_to,
                                  message.reactions, len(message.text))
        self.last_timestamp = message.timestamp

    def barrier(self, timestamp: float) -> None:
        """An opted-out user's message: close the open turn and cut the history."""
        self.close_turn()
        if self.conversation is not None:
            self.listener.on_cut(self.conversation)
            self.conversation.cut()
        self.last_timestamp = max(self.last_timestamp, timestamp)

    def finish(self) -> None:
        self.close_turn()
        if self.conversation is not None:
            self.listener.on_end(self.conversation)
            self.conversation = None

    def _links(self, reply_to_id: int | None) -> bool:
        if reply_to_id is None:
            return False
        if reply_to_id in self.conversation.index:
            return True
        return self.open_turn is not None and reply_to_id in self.open_turn.message_ids

    def _merges(self, message: SourceMessage) -> bool:
        turn = self.open_turn
        return (turn is not None and turn.first.author_id == message.author_id
                and message.timestamp - turn.last_timestamp <= self.merge_seconds
                and turn.pieces < MAX_TURN_MESSAGES and turn.chars + len(message.text) <= MAX_TURN_CHARS)

    def close_turn(self) -> None:
        """Close the turn in progress (the end of the input at hand, e.g. a live history)."""
        if self.open_turn is None:
            return
        turn = self.open_turn.close()
        self.open_turn = None
        self.listener.on_turn(self.conversation, turn)
        self.conversation.append(turn)
