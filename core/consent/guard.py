"""What a job that reads people's text saw of consent when it started, checked again before it publishes.

``ConsentGuard(conn)`` notes the consent version and the opted-out ids. ``guard.publishing()`` holds the consent lock
(``core.consent.lock``) and yields the ids opted out since: empty means what the job built is still allowed and may
be published (and registered) inside the ``with``; otherwise the job discards or re-filters what it wrote. A forget
holds the same lock for its whole run, so a job publishes either before a forget starts (and the forget then finds
and cleans what it published) or after it ends (and then sees the change).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from core.consent.lock import consent_lock
from storage.consent import consent_version, opted_out_ids


class ConsentGuard:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.version = consent_version(conn)
        self.opted_out = frozenset(opted_out_ids(conn))

    def moved(self) -> bool:
        """Whether consent changed since the guard was taken (cheap: one row)."""
        return consent_version(self.conn) != self.version

    def newly_opted_out(self) -> set[int]:
        """Ids opted out (or forgotten) since the guard was taken."""
        return opted_out_ids(self.conn) - self.opted_out if self.moved() else set()

    @contextmanager
    def publishing(self) -> Iterator[set[int]]:
        """Hold the consent lock; yields the ids opted out since the start (publish only when it is empty)."""
        with consent_lock(self.conn):
            yield self.newly_opted_out()
