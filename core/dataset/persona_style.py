"""A persona's style profile as the owner sees and edits it: the computed profile in words, the line in use, the edit.

``core.dataset.profile`` computes the profile and its line during ``prepare`` and ``storage.personas`` stores them
(``persona_styles``). This module reads one persona's row into plain data (``style_state``) that the CLI's
``personas style`` and the Personas page both show, and sets or resets the owner's line (``edit_style_line``).
A person who opted out (forgotten people stay opted out) has no profile: opt-out and forget delete it, and an edit
is refused rather than storing a line about them again.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from core.dataset import DatasetError
from core.dataset.personas import info
from storage import consent as consent_store, personas as store
from storage.db import transaction

READY, NOT_COMPUTED, OPTED_OUT = "ready", "not computed", "opted out"
MAX_LINE = 600  # characters: the line is in every system prompt; the computed ones are about 250
FIELD_LABELS = {"typical_length": "typical length", "casing": "casing", "endings": "ends", "emoji": "emoji",
                "phrases": "phrases", "topics": "topics", "tone": "tone"}
ENDING_NAMES = {".": "full stops", "!": "exclamation marks", "?": "questions", "...": "trailing dots"}


class StyleError(DatasetError):
    """A style edit that cannot be made: nothing computed yet, an opted-out person, a line too long."""


def profile_fields(profile: Mapping) -> dict[str, str]:
    """The computed profile (``StyleProfile.as_json()``) in words, keyed like FIELD_LABELS; {} when there is none.
    The casing and endings words and thresholds are those of ``core.dataset.profile.describe``, so the page and the
    line agree; where the line says nothing (mixed casing, mixed endings) this says "mixed"."""
    if not profile.get("replies"):
        return {}
    words = max(1, round(profile.get("words_median", 0)))
    return {"typical_length": f"about {words} word{'s' if words != 1 else ''}",
            "casing": casing_words(profile.get("lowercase_share", 0.0), profile.get("capitals_share", 0.0)),
            "endings": ending_words(profile.get("endings") or {}),
            "emoji": " ".join(profile.get("emoji") or ()) or "none",
            "phrases": ", ".join(f'"{phrase}"' for phrase in profile.get("phrases") or ()) or "none",
            "topics": ", ".join(profile.get("topics") or ()) or "none",
            "tone": profile.get("tone") or "—"}


def casing_words(lowercase_share: float, capitals_share: float) -> str:
    if capitals_share >= 0.2:
        return "often CAPITALS"
    if lowercase_share >= 0.7:
        return "all lowercase"
    return "proper capitalisation" if lowercase_share <= 0.2 else "mixed"


def ending_words(endings: Mapping[str, float]) -> str:
    if not endings:
        return "mixed"
    top, share = max(endings.items(), key=lambda item: item[1])
    if top == "none":
        return "rarely with punctuation" if share >= 0.6 else "mixed"
    return f"with {ENDING_NAMES.get(top, top)}" if share >= 0.3 else "mixed"


def summary_text(fields: Mapping[str, str]) -> str:
    """'Typical length: about 6 words · casing: all lowercase · ends: ...' ('' without fields)."""
    text = " · ".join(f"{FIELD_LABELS[key]}: {value}" for key, value in fields.items())
    return text[:1].upper() + text[1:]


def style_state(conn: sqlite3.Connection, user_id: int) -> dict:
    """One persona's style, as plain data: their ``name``, ``status`` (READY, NOT_COMPUTED, OPTED_OUT;
    ``forgotten`` when the opt-out came with a forget), ``replies`` the profile was computed from, ``fields`` and
    ``summary`` (the profile in words), ``computed_line``, ``edited`` (the owner's line or None) and ``is_edited``,
    ``line`` (the one prompts get), ``active`` (False when the latest prepare ran with ``dataset.style_profile``
    off: no prompt gets a line)."""
    state = {"user_id": str(user_id), "name": info(conn, user_id, 0).name, "status": NOT_COMPUTED,
             "forgotten": False, "replies": 0, "profile": {}, "fields": {}, "summary": "", "computed_line": None,
             "edited": None, "is_edited": False, "line": None, "active": False}
    opted_out, forgotten_at = consent_store.consent_rows(conn).get(user_id, (False, None))
    if opted_out:
        return {**state, "status": OPTED_OUT, "forgotten": forgotten_at is not None}
    row = store.styles(conn).get(user_id)
    if row is None or not (row["line"] or row["edited"]):
        return state
    fields = profile_fields(row["profile"])
    return {**state, "status": READY, "replies": int(row["profile"].get("replies", 0)), "profile": row["profile"],
            "fields": fields, "summary": summary_text(fields), "computed_line": row["line"] or None,
            "edited": row["edited"], "is_edited": row["edited"] is not None, "line": row["edited"] or row["line"],
            "active": row["active"]}


def refusal(state: Mapping) -> str | None:
    """Why the persona's style cannot be shown or edited, in one line; None when it can."""
    name, user_id = state["name"], state["user_id"]
    who = f"{name} ({user_id})" if name != user_id else f"user {user_id}"  # a forgotten person has no name left
    if state["status"] == OPTED_OUT:
        done = "was forgotten" if state["forgotten"] else "opted out"
        return f"{who} {done}: their style profile is deleted and is not computed while they stay opted out"
    if state["status"] == NOT_COMPUTED:
        return f"no style profile for {who} yet: `launcher.py prepare` computes it from their training replies"
    return None


def edit_style_line(conn: sqlite3.Connection, user_id: int, line: str | None) -> dict:
    """Set the owner's line (None, "" or the computed line itself: back to the computed one); returns the new
    ``style_state``. StyleError when nothing is computed, the person opted out, or the line is too long. The check
    and the write are one transaction, so an opt-out that commits first is seen and one that commits after deletes
    the row with the edit."""
    text = " ".join((line or "").split())
    if len(text) > MAX_LINE:
        raise StyleError(f"the style line is {len(text)} characters; keep it under {MAX_LINE} (every prompt has it)")
    with transaction(conn):
        state = style_state(conn, user_id)
        reason = refusal(state)
        if reason:
            raise StyleError(reason)
        store.edit_style(conn, user_id, None if text == state["computed_line"] else text or None)
    return style_state(conn, user_id)
