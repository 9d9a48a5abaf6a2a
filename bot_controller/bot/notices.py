"""What the bot says when it cannot answer a mention at all: one short line, at most once per channel per hour.

Pure (no Discord, an injected clock): ``MentionNotices.line_for(channel_id, reason_kind, detail)`` returns the line
to post, or None when that channel was already told within ``per_channel_seconds``. The line names the cause in
plain words only. ``detail`` is the admins' reason text (the pause reason, ``stats.model_error``): it may only pick
the wording and is never quoted, because it carries paths, file names, user ids and rebuild commands that belong in
the log and ``status``, not in a channel. ``reason_kind_of`` maps the bot's state to a kind.

Not thread-safe: the bot calls it from its event loop only.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable

PAUSED = "paused"            # the supervisor paused the bot (a training job holds the GPU) or the owner did
NO_MODEL = "no_model"        # no GGUF found or set yet
STALE_MODEL = "stale_model"  # the model learned from someone who opted out or was forgotten: refused until rebuilt
BROKEN_MODEL = "broken_model"  # the GGUF would not load (corrupt, no chat template, out of memory)
PER_CHANNEL_SECONDS = 3600   # one notice an hour: a busy channel must not hear the same excuse on every mention

PREFIX = "I can't answer right now: "
LINES = {
    PAUSED: PREFIX + "I'm paused. Try again later.",
    NO_MODEL: PREFIX + "no model is loaded yet. Try again later.",
    STALE_MODEL: PREFIX + "my model was built from the messages of someone who opted out, so it's switched off "
                          "until it's rebuilt.",
    BROKEN_MODEL: PREFIX + "my model couldn't be loaded. Try again later.",
}
RETRAINING_LINE = PREFIX + "my model is being retrained. Try again later."
FALLBACK_LINE = "I can't answer right now. Try again later."  # an unknown kind: still never the detail
# The beginnings of the bot's own model_error lines (bot_controller.bot.model_host.load_model).
NO_MODEL_ERROR = "no model"
STALE_MODEL_ERROR = "refusing the model"


def reason_kind_of(paused: bool, model_error: str | None) -> str:
    """The kind of reason for the bot's state: paused, else what ``stats.model_error`` says went wrong."""
    if paused:
        return PAUSED
    error = (model_error or "").strip()
    if not error or error.startswith(NO_MODEL_ERROR):
        return NO_MODEL
    if error.startswith(STALE_MODEL_ERROR):
        return STALE_MODEL
    return BROKEN_MODEL


class MentionNotices:
    """Remembers when each channel was last told that the bot cannot answer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 per_channel_seconds: float = PER_CHANNEL_SECONDS) -> None:
        self.clock = clock
        self.per_channel_seconds = per_channel_seconds
        self._told: dict[Hashable, float] = {}  # channel id -> when it was last told (clock seconds)

    def line_for(self, channel_id: Hashable, reason_kind: str, detail: str | None = None) -> str | None:
        """The line to post in ``channel_id`` now, or None when it was told within the window (whatever the
        reason then). Returning a line counts as telling the channel: post it or the channel waits an hour."""
        now = self.clock()
        last = self._told.get(channel_id)
        if last is not None and now - last < self.per_channel_seconds:
            return None
        self._forget_before(now - self.per_channel_seconds)
        self._told[channel_id] = now
        return user_line(reason_kind, detail)

    def _forget_before(self, cutoff: float) -> None:
        # Channels told long ago can be told again anyway: dropping them keeps the map as small as the last hour.
        for channel_id in [channel for channel, told in self._told.items() if told <= cutoff]:
            del self._told[channel_id]


def user_line(reason_kind: str, detail: str | None = None) -> str:
    """The channel's line for ``reason_kind``; ``detail`` only tells a training pause from the owner's pause."""
    if reason_kind == PAUSED and "training" in (detail or "").casefold():
        return RETRAINING_LINE
    return LINES.get(reason_kind, FALLBACK_LINE)
