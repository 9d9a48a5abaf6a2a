"""Personas: who they are (discovered from message counts), what they are called, and which ones a run selects.

A persona is a non-bot author with at least ``min_messages`` messages a person wrote (system messages don't count),
tracked by user id. Its name is the owner's edited name when set, else the display name, else the user name.
Wherever a command takes a persona or a user, its id or any of those names works (an ambiguous name is an error
listing the candidates).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.dataset import DatasetError
from core.conversation.scrub import Scrubber
from core.conversation.turns import Persona
from core.ingest.records import USER_MESSAGE_TYPES
from storage import consent as consent_store, personas as store


@dataclass(frozen=True)
class PersonaInfo:
    id: int
    name: str
    messages: int
    opted_out: bool
    description: str | None = None
    display_name: str | None = None
    user_name: str | None = None
    style: str | None = None   # the automatic profile line (core.dataset.profile), or the owner's edit of it

    def as_persona(self, *, with_style: bool = True) -> Persona:
        """The prompt builder's Persona: name and description scrubbed like every text that reaches a prompt. The
        description ends with the style line, as ``prepare`` writes it into every example (prepare itself asks
        ``with_style=False`` and adds the line it computes)."""
        scrubber = Scrubber()
        description = " ".join(part.strip() for part in (self.description, self.style if with_style else None)
                               if part and part.strip())
        return Persona(self.id, scrubber.scrub(self.name), scrubber.scrub(description) if description else None)

    def as_json(self) -> dict:
        return {"id": str(self.id), "name": self.name, "messages": self.messages, "opted_out": self.opted_out,
                "description": self.description, "display_name": self.display_name, "user_name": self.user_name,
                "style": self.style}


def persona_label(edited: str | None, display_name: str | None, user_name: str | None, user_id: int) -> str:
    return " ".join((edited or display_name or user_name or str(user_id)).split())


def message_counts(conn: sqlite3.Connection) -> dict[int, int]:
    """Messages a person wrote, by non-bot author, most first (one scan of the messages table)."""
    return dict(store.author_message_counts(conn, USER_MESSAGE_TYPES, 1))


def roster(conn: sqlite3.Connection, min_messages: int, counts: dict[int, int] | None = None) -> list[PersonaInfo]:
    """Discovered personas (opted-out ones included, flagged) plus any author whose profile was edited."""
    profiles = store.profiles(conn)
    styles = store.style_lines(conn)
    consent = consent_store.consent_rows(conn)
    counts = message_counts(conn) if counts is None else counts
    found = []
    for user_id, messages in counts.items():
        if messages < min_messages and user_id not in profiles:
            continue
        found.append(info(conn, user_id, messages, profiles, consent, styles))
    return found


def info(conn, user_id: int, messages: int, profiles=None, consent=None, styles=None) -> PersonaInfo:
    profiles = store.profiles(conn) if profiles is None else profiles
    consent = consent_store.consent_rows(conn) if consent is None else consent
    styles = store.style_lines(conn) if styles is None else styles
    edited, description = profiles.get(user_id, (None, None))
    display_name, user_name = store.user_names(conn, user_id) or (None, None)
    return PersonaInfo(user_id, persona_label(edited, display_name, user_name, user_id), messages,
                       consent.get(user_id, (False, None))[0], description, display_name, user_name,
                       styles.get(user_id))


def load_persona(conn: sqlite3.Connection, reference: str | int) -> Persona:
    """The Persona for a user id or name, as ``prepare`` puts it in system prompts (the bot and the playground use
    this too). An opted-out or forgotten person is never a persona: DatasetError naming why."""
    user_id = resolve_user(conn, str(reference), must_exist=False)
    persona = info(conn, user_id, 0)
    if persona.opted_out:
        raise DatasetError(f"user {user_id} opted out and cannot be a persona (the bot and the playground never "
                           f"speak as them); choose another persona")
    if not store.user_exists(conn, user_id):
        raise DatasetError(f"no user with id {user_id} in the database")
    return persona.as_persona()


def resolve_user(conn: sqlite3.Connection, reference: str, *, must_exist: bool = True) -> int:
    """A user id from an id or a name (persona name, display name, user name; case-insensitive)."""
    text = reference.strip()
    if text.isdigit():
        user_id = int(text)
        if must_exist and not store.user_exists(conn, user_id):
            raise DatasetError(f"no user with id {user_id} in the database")
        return user_id
    matches = store.users_named(conn, text)
    if not matches:
        raise DatasetError(f"no user named {text!r} (use `personas list` to see names and ids)")
    if len(matches) > 1:
        raise DatasetError(f"the name {text!r} is ambiguous: ids {', '.join(map(str, matches))}; use an id")
    return matches[0]


def select_personas(conn: sqlite3.Connection, min_messages: int, spec: str = "all",
                    counts: dict[int, int] | None = None) -> list[Persona]:
    """The personas a run trains: ``all``, ``top:N`` (most messages first) or ``ID,NAME,...`` (explicit choices
    may be below min_messages, never opted out). ``counts``: ``message_counts(conn)`` when the caller has it."""
    spec = (spec or "all").strip()
    counts = message_counts(conn) if counts is None else counts
    available = [p for p in roster(conn, min_messages, counts) if not p.opted_out and p.messages >= min_messages]
    if spec == "all":
        return [p.as_persona(with_style=False) for p in available]
    if spec.startswith("top:"):
        try:
            count = int(spec[4:])
        except ValueError:
            raise DatasetError(f"--personas {spec!r}: top:N needs a number") from None
        if count <= 0:
            raise DatasetError(f"--personas {spec!r}: N must be at least 1")
        return [p.as_persona(with_style=False) for p in available[:count]]
    chosen: dict[int, Persona] = {}
    for reference in filter(None, (part.strip() for part in spec.split(","))):
        user_id = resolve_user(conn, reference)
        persona = info(conn, user_id, counts.get(user_id, 0))
        if persona.opted_out:
            raise DatasetError(f"--personas: {persona.name} ({user_id}) opted out and cannot be a persona")
        if persona.messages == 0:
            raise DatasetError(f"--personas: {persona.name} ({user_id}) has no messages to learn from")
        chosen[user_id] = persona.as_persona(with_style=False)
    if not chosen:
        raise DatasetError(f"--personas {spec!r} names no persona")
    return list(chosen.values())


def live_options(conn: sqlite3.Connection) -> dict:
    """The keyword arguments ``turns_from_live`` needs to label and hide users exactly as ``prepare`` does:
    ``turns_from_live(messages, **live_options(conn), bot_user_id=..., persona=load_persona(conn, ...))``."""
    names = {user_id: name for user_id, (name, _) in store.profiles(conn).items() if name}
    return {"names": names, "opted_out": consent_store.opted_out_users(conn)}
