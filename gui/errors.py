"""The panel's readable errors: ``ActionError`` (a verb could not run: what failed, what to do) and ``NotAvailable``.

They live apart from ``gui.actions`` so that the action mixins (``gui.actions_data``, ``gui.actions_runs``, ...) can
raise them without importing the module that imports them (no import circle); ``gui.actions`` re-exports both.
"""
from __future__ import annotations


class ActionError(Exception):
    """A verb could not run: ``what`` failed, ``advice`` what to do. Shown in a banner, never as a traceback."""

    def __init__(self, what: str, advice: str = "") -> None:
        super().__init__(what if not advice else f"{what} ({advice})")
        self.what = what
        self.advice = advice


class NotAvailable(ActionError):
    """The capability is not there (no model exported yet, no GPU, a feature still missing)."""
