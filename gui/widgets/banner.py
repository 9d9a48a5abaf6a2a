"""The error banner: what failed and what to do, in words, at the top of a page or the window; never a traceback."""
from __future__ import annotations

import customtkinter as ctk

COLOURS = {"error": ("#f8d7da", "#5c1f24"), "info": ("#d1ecf1", "#1d3f47"), "ok": ("#d4edda", "#1e4620")}
TEXT_COLOURS = {"error": ("#58151c", "#f8d7da"), "info": ("#0c5460", "#d1ecf1"), "ok": ("#155724", "#d4edda")}


class ErrorBanner(ctk.CTkFrame):
    """Hidden until ``show``; the owner grids it and this widget removes itself from the grid when dismissed."""

    def __init__(self, master, **kwargs) -> None:
        super().__init__(master, corner_radius=6, fg_color=COLOURS["error"], **kwargs)
        self.grid_columnconfigure(0, weight=1)
        self.label = ctk.CTkLabel(self, text="", anchor="w", justify="left", wraplength=760,
                                  text_color=TEXT_COLOURS["error"])
        self.label.grid(row=0, column=0, sticky="ew", padx=10, pady=6)
        self.close_button = ctk.CTkButton(self, text="Dismiss", width=70, command=self.hide)
        self.close_button.grid(row=0, column=1, padx=6, pady=6)
        self._grid_options: dict | None = None
        self.visible = False

    def place_in_grid(self, **options) -> None:
        """Remember where to appear; stays hidden until ``show``."""
        self._grid_options = options

    def show(self, what: str, advice: str = "", kind: str = "error") -> None:
        text = what if not advice else f"{what}\n{advice}"
        self.configure(fg_color=COLOURS.get(kind, COLOURS["error"]))
        self.label.configure(text=text, text_color=TEXT_COLOURS.get(kind, TEXT_COLOURS["error"]))
        if self._grid_options is not None:
            self.grid(**self._grid_options)
        self.visible = True

    def hide(self) -> None:
        self.grid_remove()
        self.visible = False

    def text(self) -> str:
        return self.label.cget("text")
