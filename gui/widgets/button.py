"""The panel's button: a CTkButton whose disabled state looks disabled (grey), not just a dimmer label.

CTkButton only changes the text colour when disabled, so a disabled Cancel or Stop read as clickable in the
screenshots. ``Button`` swaps the face to grey while ``state == "disabled"`` and back to its own colour when
enabled; views use it instead of ``ctk.CTkButton`` everywhere, so every page follows one rule.
"""
from __future__ import annotations

import customtkinter as ctk

DISABLED_FG = ("gray78", "gray30")
DISABLED_TEXT = ("gray45", "gray62")


class Button(ctk.CTkButton):
    def __init__(self, master, **kwargs) -> None:
        kwargs.setdefault("text_color_disabled", DISABLED_TEXT)
        state = kwargs.pop("state", "normal")
        super().__init__(master, **kwargs)
        self._enabled_fg = self.cget("fg_color")
        if state != "normal":
            self.configure(state=state)

    def configure(self, require_redraw=False, **kwargs) -> None:
        if "fg_color" in kwargs:
            self._enabled_fg = kwargs["fg_color"]
            if kwargs.get("state", self.cget("state")) == "disabled":
                kwargs["fg_color"] = DISABLED_FG
        if "state" in kwargs and hasattr(self, "_enabled_fg"):
            kwargs["fg_color"] = DISABLED_FG if kwargs["state"] == "disabled" else self._enabled_fg
        super().configure(require_redraw=require_redraw, **kwargs)

    config = configure

    @property
    def looks_disabled(self) -> bool:
        """What a user sees (tests): the grey face of a disabled button."""
        return self.cget("state") == "disabled" and self.cget("fg_color") == DISABLED_FG
