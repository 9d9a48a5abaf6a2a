"""The Personas page's Style section: the selected persona's automatic profile in words, and the line their prompts
get in a box the owner edits (Save) or takes back to the computed one (Reset to computed).

A mixin of ``PersonasView`` (it uses the page's ``actions``, ``run`` and ``banner``), as training_form.py is of the
Training page. The line is stored the way the page stores the description: a short SQLite write through the
actions (``set_persona_style``), on the Tk thread. What the section says for a state is ``style_texts``, a plain
function.
"""
from __future__ import annotations

import customtkinter as ctk

from core.dataset import persona_style
from gui.widgets.button import Button
from gui.widgets.wrap import wrap_to

NOTE = ("Computed from their training replies by the latest prepare; used in the bot's prompts and the next "
        "training run. Forget or opt-out deletes it.")
NOT_COMPUTED = "Prepare a dataset to compute it."
OPTED_OUT = "None: they opted out, and opt-out and forget delete it."
NOT_ACTIVE = "  (not used now: the latest prepare ran with dataset.style_profile off)"
NO_PERSONA = "Pick someone in the list."
MUTED = ("gray35", "gray65")
LINE_HEIGHT = 84  # px: four lines; the computed lines are about 250 characters


def style_texts(state: dict | None) -> dict:
    """What the section shows for a ``style_state`` (None: no persona selected): the profile text, the label of the
    line box, the line, and whether Save and Reset can be pressed."""
    if state is None:
        return {"profile": NO_PERSONA, "label": "In prompts", "line": "", "editable": False, "resettable": False}
    if state["status"] == persona_style.OPTED_OUT:
        return {"profile": OPTED_OUT, "label": "In prompts", "line": "", "editable": False, "resettable": False}
    if state["status"] != persona_style.READY:
        return {"profile": NOT_COMPUTED, "label": "In prompts", "line": "", "editable": False, "resettable": False}
    profile = state["summary"] or NOT_COMPUTED
    if not state["active"]:
        profile += NOT_ACTIVE
    return {"profile": profile, "label": "In prompts\n(edited)" if state["is_edited"] else "In prompts\n(computed)",
            "line": state["line"] or "", "editable": True, "resettable": state["is_edited"]}


class StyleSection:
    def _build_style(self, card, row: int) -> int:
        """The section's widgets in ``card`` from grid row ``row``; returns the next free row."""
        ctk.CTkLabel(card, text="Style", font=ctk.CTkFont(size=13, weight="bold"), anchor="w").grid(
            row=row, column=0, sticky="w", padx=12, pady=(8, 0))
        ctk.CTkLabel(card, text="Profile", anchor="w", text_color=MUTED).grid(
            row=row + 1, column=0, sticky="nw", padx=12, pady=2)
        self.style_profile = ctk.CTkLabel(card, text=NO_PERSONA, anchor="w", justify="left")
        self.style_profile.grid(row=row + 1, column=1, columnspan=2, sticky="w", padx=(0, 12), pady=2)
        wrap_to(self.style_profile, card)
        self.style_label = ctk.CTkLabel(card, text="In prompts", anchor="nw", justify="left", text_color=MUTED)
        self.style_label.grid(row=row + 2, column=0, sticky="nw", padx=12, pady=3)
        self.style_line = ctk.CTkTextbox(card, height=LINE_HEIGHT, wrap="word")
        self.style_line.grid(row=row + 2, column=1, sticky="ew", pady=3)
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=row + 2, column=2, sticky="n", padx=12, pady=3)
        self.style_save = Button(buttons, text="Save", width=90, command=self.save_style)
        self.style_save.grid(row=0, column=0, sticky="ew")
        self.style_reset = Button(buttons, text="Reset to computed", width=90, command=self.reset_style)
        self.style_reset.grid(row=1, column=0, sticky="ew", pady=(4, 0))
        self.style_note = ctk.CTkLabel(card, text=NOTE, anchor="w", justify="left", text_color=MUTED,
                                       font=ctk.CTkFont(size=11))
        self.style_note.grid(row=row + 3, column=0, columnspan=3, sticky="w", padx=12, pady=(0, 4))
        wrap_to(self.style_note, card)
        self.style_state = None
        self.show_style_state(None)
        return row + 4

    def show_style(self, person) -> None:
        """Read and show the style of ``person`` (a PersonaInfo, or None)."""
        state = None if person is None else self.run(self.actions.persona_style, person.id)
        self.show_style_state(state)

    def show_style_state(self, state: dict | None) -> None:
        self.style_state = state
        texts = style_texts(state)
        self.style_profile.configure(text=texts["profile"])
        self.style_label.configure(text=texts["label"])
        self.style_line.configure(state="normal")
        self.style_line.delete("1.0", "end")
        self.style_line.insert("1.0", texts["line"])
        self.style_line.configure(state="normal" if texts["editable"] else "disabled")
        self.style_save.configure(state="normal" if texts["editable"] else "disabled")
        self.style_reset.configure(state="normal" if texts["resettable"] else "disabled")

    def save_style(self) -> None:
        if self.selected is not None and self.style_state is not None:
            line = self.style_line.get("1.0", "end").strip()
            if not line:  # an emptied box means "no edit of mine": the computed line
                self.reset_style()
                return
            self.store_style(line)

    def reset_style(self) -> None:
        if self.selected is not None and self.style_state is not None:
            self.store_style(None)

    def store_style(self, line: str | None) -> None:
        state = self.run(self.actions.set_persona_style, self.selected.id, line)
        if state is not None:  # a refusal is in the banner; the box keeps what was typed
            self.show_style_state(state)
