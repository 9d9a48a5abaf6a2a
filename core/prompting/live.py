"""Live Discord messages → Turns, through exactly the admission, cleaning and threading that ``prepare`` uses.

The bot hands in discord.py ``Message`` objects (or anything with the same attributes: ``id``, ``author.id``,
``author.display_name``, ``author.name``, ``author.bot``, ``content``, ``created_at``, ``type``, ``reference``,
``mentions``, ``attachments``, ``reactions``) and gets the turns of the latest conversation, ready for
``core.prompting.builder.build_prompt``. The bot's own messages are the persona's turns (``bot_user_id`` + ``persona``).
Given the same messages (and ``core.dataset.personas.live_options`` for names and opt-outs) the turns equal what
``prepare`` built; with only the channel's recent messages, the one difference can be the spam filter, which then
sees a shorter stretch of each author's history.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timezone

from core.config.app_config import DatasetConfig
from core.conversation.filters import BARRIER, Admission
from core.conversation.scrub import Scrubber
from core.conversation.text import NameBook, TextCleaner
from core.conversation.threading import HISTORY_TURNS, Conversation, Threader
from core.conversation.turns import Persona, Place, Turn
from core.ingest.records import normalize_message_type
from core.prompting.quoting import NAME_LIMIT, one_line


class LatestConversation:
    """A threader listener that keeps the turns of the conversation in progress."""

    def __init__(self):
        self.turns: list[Turn] = []

    def on_turn(self, conversation: Conversation, turn: Turn) -> None:
        self.turns.append(turn)

    def on_cut(self, conversation: Conversation) -> None:
        self.turns.clear()

    def on_end(self, conversation: Conversation) -> None:
        self.turns.clear()


def turns_from_live(messages: Iterable, *, names: Mapping[int, str] | None = None,
                    opted_out: Mapping[int, Iterable[str]] | Iterable[int] = (),
                    bot_user_id: int | None = None, persona: Persona | None = None,
                    config: DatasetConfig | None = None, channel_names: Mapping[int, str] | None = None,
                    scrubber: Scrubber | None = None) -> list[Turn]:
    """The latest conversation's turns (oldest first, at most HISTORY_TURNS, as ``prepare`` keeps).

    ``names``: persona names by user id (``storage.personas``), the same labels ``prepare`` uses;
    ``opted_out``: opted-out user ids, or ids → the names they go by (so plain mentions of them are hidden too).
    """
    config = config or DatasetConfig()
    overrides = dict(names or {})
    if persona is not None:
        overrides.setdefault(persona.id, persona.name)
    book = NameBook(scrubber or Scrubber(), overrides=overrides, opted_out=opted_out)
    ordered = sorted(messages, key=lambda message: int(message.id))
    for message in ordered:
        author = message.author
        book.add(int(author.id), getattr(author, "display_name", None), getattr(author, "name", None))
        for user in getattr(message, "mentions", None) or ():
            book.add(int(user.id), getattr(user, "display_name", None), getattr(user, "name", None))
    admission = Admission(TextCleaner(book, channel_names), config.spam_repeat_limit, Counter())
    collector = LatestConversation()
    threader = Threader(0, collector, config.conversation_gap_minutes * 60, config.merge_window_seconds)
    for message in ordered:
        author_id = int(message.author.id)
        own = bot_user_id is not None and persona is not None and author_id == bot_user_id
        created_at = message.created_at
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=timezone.utc)
        created_at = created_at.astimezone(timezone.utc)
        is_bot = False if own else bool(getattr(message.author, "bot", False))
        admitted = admission.admit(
            int(message.id), persona.id if own else author_id, is_bot, live_type(message), message.content or "",
            created_at, reply_target(message),
            [int(user.id) for user in getattr(message, "mentions", None) or ()],
            len(getattr(message, "attachments", None) or ()), reaction_total(message))
        if admitted == BARRIER:
            threader.barrier(created_at.timestamp())
        elif not isinstance(admitted, str):
            threader.push(admitted)
    threader.close_turn()
    return collector.turns[-HISTORY_TURNS:]


def make_place(server_name: str | None, channel_name: str | None, scrubber: Scrubber | None = None, *,
               names: NameBook | None = None,
               opted_out: Mapping[int, Iterable[str]] | Iterable[int] = ()) -> Place:
    """The Place for a server and channel (a thread's own name for a thread), scrubbed, as ``prepare`` makes it:
    each name on one line, without double quotes, at most Discord's 100 characters (``core.prompting.quoting``).

    Opted-out users' names are hidden in both titles ("Eve's birthday" → "someone's birthday"): ``names`` is the
    run's NameBook (``prepare``), or ``opted_out`` as ``turns_from_live`` takes it (the bot: ``live_options``)."""
    scrubber = scrubber or Scrubber()
    if names is None and opted_out:
        names = NameBook(scrubber, opted_out=opted_out)
    hide = names.hide_in_title if names is not None else str

    def title(text: str | None) -> str:
        return one_line(scrubber.scrub(hide(text or "")), NAME_LIMIT)
    return Place(title(server_name) or "the server", title(channel_name) or "channel")


def live_type(message) -> str:
    kind = getattr(message, "type", None)
    return normalize_message_type(getattr(kind, "value", kind))


def reply_target(message) -> int | None:
    reference = getattr(message, "reference", None)
    message_id = getattr(reference, "message_id", None) if reference is not None else None
    return int(message_id) if message_id is not None else None


def reaction_total(message) -> int:
    return sum(int(getattr(reaction, "count", 0) or 0) for reaction in getattr(message, "reactions", None) or ())
