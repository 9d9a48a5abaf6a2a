"""A progress row: a bar, and a line with the phase, step/total, ETA (the phase's and the run's), tokens per second
and memory, fed from ProgressReported.

An idle bar (nothing done yet) is drawn as a plain grey track: CTkProgressBar's rounded ends otherwise paint a blue
stub at 0 that reads as "something started". The bar takes its colour back as soon as there is progress to show.
"""
from __future__ import annotations

import customtkinter as ctk

from core.jobs.log_lines import status_text


def format_duration(seconds: float | None) -> str:
    """``3h 05m``, ``4m 20s``, ``12s``; ``?`` while unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


class ProgressRow(ctk.CTkFrame):
    def __init__(self, master, **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.grid_columnconfigure(0, weight=1)
        self.bar = ctk.CTkProgressBar(self)
        self.bar.grid(row=0, column=0, sticky="ew", padx=(0, 8))
        self._active_colour = self.bar.cget("progress_color")
        self.idle = False
        self._set_fraction(0.0)
        self.label = ctk.CTkLabel(self, text="idle", anchor="w", width=260)
        self.label.grid(row=0, column=1, sticky="w")

    def update_from(self, event) -> None:
        """Show a ProgressReported: the phase's step and share on the bar, the phase, its ETA and the run's, speed
        and memory on the line (``core.jobs.log_lines.status_text``); a phase without steps shows its message."""
        if getattr(event, "is_phase", False) and event.message:
            self.label.configure(text=event.message)
            return
        self._set_fraction((event.step / event.total) if event.total else 0.0)
        self.label.configure(text=status_text(event))

    def set_text(self, text: str, fraction: float | None = None) -> None:
        self.label.configure(text=text)
        if fraction is not None:
            self._set_fraction(fraction)

    def _set_fraction(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, fraction))
        idle = fraction <= 0.0
        if idle != self.idle:  # recolour only on a change: a configure redraws the whole bar
            self.idle = idle
            self.bar.configure(progress_color=self.bar.cget("fg_color") if idle else self._active_colour)
        self.bar.set(fraction)

    def text(self) -> str:
        return self.label.cget("text")
