"""Text from Discord inside the system message, as labelled data: the names of places and recalled messages.

What people wrote (a thread's name, a server's name, a message the memory recalls) must read as a quotation, never
as instructions to the model. Each is put on one line (whitespace and line breaks collapsed), its own double quote
marks turned into single ones, so it cannot close its quotation and carry on as prompt text, capped in length (ending
with an ellipsis) and wrapped in double quotes. The prompt builder uses it for training examples and for the bot
alike, so both see the same quoting.
"""
from __future__ import annotations

NAME_LIMIT = 100      # characters of a channel, thread or server name: Discord's own limit
MESSAGE_LIMIT = 300   # characters of a recalled message: enough to be useful, too short to carry a long script
ELLIPSIS = "…"
QUOTE_MARKS = str.maketrans({mark: "'" for mark in '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02'})


def one_line(text: object, limit: int) -> str:
    """``text`` on one line without double quote marks, at most ``limit`` characters (cut ones end with …)."""
    flat = " ".join(str(text or "").split()).translate(QUOTE_MARKS)
    return flat if len(flat) <= limit else flat[:max(0, limit - 1)].rstrip() + ELLIPSIS


def quoted(text: object, limit: int) -> str:
    """``one_line(text, limit)`` in double quotes: a quotation that nothing inside it can close."""
    return f'"{one_line(text, limit)}"'
