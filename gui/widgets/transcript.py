"""A chat transcript for the Playground: an optional header (which model answers in it) over a read-only textbox that
shows a grey hint until the first line. The compare mode puts two side by side."""
from __future__ import annotations

import customtkinter as ctk

BORDER = ("gray62", "gray38")


class Transcript(ctk.CTkFrame):
    def __init__(self, master, hint: str) -> None:
        super().__init__(master, fg_color="transparent")
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(1, weight=1)
        self.hint = hint
        self.header = ctk.CTkLabel(self, text="", anchor="w", font=ctk.CTkFont(weight="bold"))
        self.box = ctk.CTkTextbox(self, wrap="word", border_width=1, border_color=BORDER)
        self.box.grid(row=1, column=0, sticky="nsew")
        self.box._textbox.tag_configure("hint", foreground="gray50")
        self.hint_shown = False
        self.clear()

    def set_header(self, text: str) -> None:
        """Show ``text`` above the lines ("" hides the header row)."""
        self.header.configure(text=text)
        if text:
            self.header.grid(row=0, column=0, sticky="ew", pady=(0, 2))
        else:
            self.header.grid_remove()

    def clear(self) -> None:
        self.box.configure(state="normal")
        self.box.delete("1.0", "end")
        self.box.insert("1.0", self.hint, ("hint",))  # an empty chat says what to do, until the first line
        self.box.configure(state="disabled")
        self.hint_shown = True

    def say(self, who: str, text: str) -> None:
        self.box.configure(state="normal")
        if self.hint_shown:
            self.box.delete("1.0", "end")
            self.hint_shown = False
        self.box.insert("end", f"{who}: {text}\n\n")
        self.box.configure(state="disabled")
        self.box.see("end")

    def text(self) -> str:
        return "" if self.hint_shown else self.box.get("1.0", "end-1c")
