"""The bot's counters and its one-line notices (what ``status`` and the heartbeat show).

A notice (a missing permission, an unknown persona, a failed generation) is logged once per distinct line, so a
channel without Manage Webhooks is said once, not on every reply; the latest few stay visible in ``status``.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from core.config.secrets import redact

LOG = logging.getLogger("dps.bot")
KEPT_NOTICES = 5


@dataclass
class Stats:
    started: float = 0.0
    seen: int = 0
    replies: int = 0
    dropped: int = 0
    errors: int = 0
    model_error: str | None = None
    notices: deque = field(default_factory=lambda: deque(maxlen=KEPT_NOTICES))
    _said: set = field(default_factory=set)

    def notice(self, line: str) -> bool:
        """Record a one-line problem; True the first time this line is said (and logged)."""
        line = redact(" ".join(str(line).split()))
        if line in self._said:
            return False
        self._said.add(line)
        self.notices.append(line)
        LOG.warning("%s", line)
        return True

    def as_details(self) -> dict:
        return {"messages_seen": self.seen, "replies": self.replies, "dropped": self.dropped, "errors": self.errors,
                "model_error": self.model_error, "notices": list(self.notices)}
