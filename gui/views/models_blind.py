"""The blind test's window: one context and two replies, A and B; which sounds more like the person?

It gets ``BlindPair`` items (``core.evaluation.blind``), which hold the texts and not which side is which, and
reports each answer through ``on_pick(number, choice)`` ("A", "B" or "cant-tell"); that returns None when the pick
was stored, else the error line, shown here (the pick can be tried again). Part of the Models page
(``gui.views.models_eval`` opens it); a Toplevel so the replies get room to be read.
"""
from __future__ import annotations

from typing import Callable

import customtkinter as ctk

from core.evaluation.blind import BlindPair
from gui.widgets.button import Button
from gui.widgets.wrap import wrap_to

WIDTH, HEIGHT = 740, 430
MUTED = ("gray35", "gray65")
ERROR = ("#b02a37", "#f19999")


def read_only(box: ctk.CTkTextbox, text: str) -> None:
    """Replace a text box's text, leaving it read-only (the Models page's text boxes share this)."""
    box.configure(state="normal")
    box.delete("1.0", "end")
    box.insert("1.0", text)
    box.configure(state="disabled")


class BlindTestDialog(ctk.CTkToplevel):
    def __init__(self, master, pairs: list[BlindPair], on_pick: Callable[[int, str], str | None]) -> None:
        super().__init__(master)
        self.title("Blind test")
        self.geometry(self.placement(master.winfo_toplevel()))
        self.minsize(620, 420)
        self.transient(master.winfo_toplevel())
        self.pairs, self.on_pick = pairs, on_pick
        self.index = 0
        self.stored = 0
        self.grid_columnconfigure((0, 1), weight=1, uniform="sides")
        self.grid_rowconfigure(4, weight=1)
        header = ctk.CTkFrame(self, fg_color="transparent")
        header.grid(row=0, column=0, columnspan=2, sticky="ew", padx=16, pady=(14, 2))
        header.grid_columnconfigure(0, weight=1)
        self.question = ctk.CTkLabel(header, text="", anchor="w", font=ctk.CTkFont(size=16, weight="bold"))
        self.question.grid(row=0, column=0, sticky="w")
        self.progress = ctk.CTkLabel(header, text="", anchor="e", text_color=MUTED)
        self.progress.grid(row=0, column=1, sticky="e", padx=(8, 0))
        ctk.CTkLabel(self, text="The conversation so far:", anchor="w", text_color=MUTED).grid(
            row=1, column=0, sticky="w", padx=16)
        self.context = ctk.CTkTextbox(self, height=84, wrap="word")
        self.context.grid(row=2, column=0, columnspan=2, sticky="ew", padx=16, pady=(0, 8))
        self.sides: dict[str, ctk.CTkTextbox] = {}
        for column, side in enumerate("AB"):
            ctk.CTkLabel(self, text=side, font=ctk.CTkFont(size=15, weight="bold")).grid(
                row=3, column=column, sticky="w", padx=(16 if column == 0 else 8, 8))
            box = ctk.CTkTextbox(self, wrap="word", font=ctk.CTkFont(size=14))
            box.grid(row=4, column=column, sticky="nsew", padx=(16, 6) if column == 0 else (6, 16))
            self.sides[side] = box
        self._build_buttons()
        self.show_pair()
        self.after(50, self.lift)

    def _build_buttons(self) -> None:
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.grid(row=5, column=0, columnspan=2, sticky="ew", padx=16, pady=(10, 4))
        buttons.grid_columnconfigure((0, 1, 2), weight=1, uniform="buttons")
        self.a_button = Button(buttons, text="A sounds more like them", command=lambda: self.pick("A"))
        self.b_button = Button(buttons, text="B sounds more like them", command=lambda: self.pick("B"))
        self.unsure_button = Button(buttons, text="Can't tell", command=lambda: self.pick("cant-tell"),
                                    fg_color="transparent", border_width=2, text_color=("gray10", "gray90"),
                                    border_color=ctk.ThemeManager.theme["CTkButton"]["fg_color"],
                                    hover_color=("gray80", "gray30"))
        for column, button in enumerate((self.a_button, self.b_button, self.unsure_button)):
            button.grid(row=0, column=column, sticky="ew", padx=4)
        footer = ctk.CTkFrame(self, fg_color="transparent")
        footer.grid(row=6, column=0, columnspan=2, sticky="ew", padx=16, pady=(2, 12))
        footer.grid_columnconfigure(0, weight=1)
        self.status = ctk.CTkLabel(footer, text="", anchor="w", justify="left", text_color=MUTED)
        self.status.grid(row=0, column=0, sticky="ew")
        wrap_to(self.status, footer, right=110)
        self.close_button = Button(footer, text="Close", width=90, command=self.destroy)
        self.close_button.grid(row=0, column=1, sticky="e", padx=(8, 0))

    @staticmethod
    def placement(window) -> str:
        """Centred over the panel's window (a window manager may still move it)."""
        x = window.winfo_rootx() + max(0, (window.winfo_width() - WIDTH) // 2)
        y = window.winfo_rooty() + max(0, (window.winfo_height() - HEIGHT) // 3)
        return f"{WIDTH}x{HEIGHT}+{x}+{y}"

    def show_pair(self) -> None:
        pair = self.pairs[self.index]
        self.question.configure(text=f"Which reply sounds more like {pair.persona}?")
        self.progress.configure(text=f"{pair.number} of {len(self.pairs)}")
        read_only(self.context, "\n".join(pair.context) or "(no earlier messages)")
        read_only(self.sides["A"], pair.a)
        read_only(self.sides["B"], pair.b)

    def pick(self, choice: str) -> None:
        if self.index >= len(self.pairs):
            return
        error = self.on_pick(self.pairs[self.index].number, choice)
        if error:
            self.status.configure(text=f"Not saved: {error}", text_color=ERROR)
            return
        self.stored += 1
        self.index += 1
        if self.index < len(self.pairs):
            self.status.configure(text=f"Saved {self.stored}. The score is on the Models page.", text_color=MUTED)
            self.show_pair()
            return
        self.finish()

    def finish(self) -> None:
        self.question.configure(text="Done: thank you")
        self.progress.configure(text=f"{len(self.pairs)} of {len(self.pairs)}")
        read_only(self.context, "Every pick is saved with the run. The score is beside the verdicts on the Models "
                                "page; Blind test again shows pairs you have not judged yet.")
        for box in self.sides.values():
            read_only(box, "")
        for button in (self.a_button, self.b_button, self.unsure_button):
            button.configure(state="disabled")
        self.status.configure(text=f"{self.stored} picks saved.", text_color=MUTED)
