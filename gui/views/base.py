"""What every page shares: a title row, a banner for readable errors, and ``run`` (call a verb; an ActionError becomes
the banner). Not a page itself; pages subclass it and never import each other."""
from __future__ import annotations

import customtkinter as ctk

from gui.events import PANEL_JOB_ID, OpenPage
from gui.widgets.banner import ErrorBanner


class PageView(ctk.CTkFrame):
    """``job_rows``: the page's JobRow widgets; the job events below reach them (the first row tracking the event's
    job shows it). A page with handlers of its own for these events overrides them."""
    TITLE = ""
    job_rows: tuple = ()

    def __init__(self, master, actions, bus, **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.actions = actions
        self.bus = bus
        self.grid_columnconfigure(0, weight=1)
        ctk.CTkLabel(self, text=self.TITLE, font=ctk.CTkFont(size=22, weight="bold"), anchor="w").grid(
            row=0, column=0, sticky="ew", padx=16, pady=(14, 4))
        self.banner = ErrorBanner(self)
        self.banner.place_in_grid(row=1, column=0, sticky="ew", padx=16, pady=(0, 6))

    def run(self, verb, *args, **kwargs):
        """Call ``verb``; an ActionError shows in the banner (what failed, what to do) and returns None."""
        from gui.errors import ActionError
        self.failed = False
        try:
            result = verb(*args, **kwargs)
        except ActionError as exc:
            self.failed = True  # callers that must stop after a failure check this (None can be a real result)
            self.banner.show(exc.what, exc.advice)
            return None
        return result

    def show_in_job_rows(self, event) -> bool:
        return any(row.handle(event) for row in self.job_rows)

    def on_progress_reported(self, event) -> None:
        self.show_in_job_rows(event)

    def on_job_failed(self, event) -> None:
        self.show_in_job_rows(event)

    def on_job_finished(self, event) -> None:
        self.show_in_job_rows(event)

    def on_job_state_changed(self, event) -> None:
        self.show_in_job_rows(event)

    def open_page(self, page: str) -> None:
        self.bus.publish(OpenPage(job_id=PANEL_JOB_ID, page=page))

    def card(self, row: int, title: str, column: int = 0, **grid) -> ctk.CTkFrame:
        frame = ctk.CTkFrame(self if "parent" not in grid else grid.pop("parent"))
        frame.grid(row=row, column=column, sticky="nsew", padx=16, pady=6, **grid)
        frame.grid_columnconfigure(1, weight=1)
        ctk.CTkLabel(frame, text=title, font=ctk.CTkFont(size=15, weight="bold"), anchor="w").grid(
            row=0, column=0, columnspan=2, sticky="w", padx=12, pady=(8, 4))
        return frame


def fact_row(frame, row: int, label: str, value: str = "—") -> ctk.CTkLabel:
    """A "label: value" line in a card; returns the value label to update."""
    ctk.CTkLabel(frame, text=label, anchor="w", text_color=("gray30", "gray70")).grid(
        row=row, column=0, sticky="w", padx=(12, 8), pady=1)
    value_label = ctk.CTkLabel(frame, text=value, anchor="w", justify="left")
    value_label.grid(row=row, column=1, sticky="w", padx=(0, 12), pady=1)
    return value_label


def human_bytes(count: int | float | None) -> str:
    if count is None:
        return "measuring…"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 bot``, ``2 bots``, ``1 reply``, ``3 replies`` (``many`` for an irregular plural)."""
    if count == 1:
        return f"1 {word}"
    if many is None:
        many = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    return f"{count:,} {many}"
