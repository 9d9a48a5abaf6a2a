"""Playground: chat with a persona through the bot's own reply pipeline, in a ``chat`` worker that keeps the model
loaded (the window never waits: Load and Send return at once, the reply arrives as a ChatReplied event).

Compare with (none, the model's base, or another model): the worker loads both and answers every line twice, with
the same prompt, settings and seed; two columns, A (the model) and B, each its own conversation with the same
typed lines (``core.prompting.compare``). Send is ready again once both have answered.
"""
from __future__ import annotations

from pathlib import Path

import customtkinter as ctk

from core.prompting.compare import BASE, SIDES, model_label
from gui.views.base import PageView
from gui.widgets.button import Button
from gui.widgets.transcript import Transcript

NO_PERSONAS = "(no personas yet)"
NO_MODELS = "(no model yet)"
NO_COMPARE = "none"
BASE_CHOICE = "base model"
HINT = "Pick a persona and a model, press Load, then say something below: the persona answers here."
COMPARE_HINT = "This model's answers to the same lines appear here."


class PlaygroundView(PageView):
    TITLE = "Playground"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(3, weight=1)
        self.job_id: str | None = None
        self.ready = False
        self.waiting = False
        self.persona_name = ""
        self.sides: tuple[str, ...] = ("a",)   # the columns answering: ("a",), or ("a", "b") when comparing
        self.pending: set[str] = set()         # sides whose answer to the last line has not arrived
        self.replies: dict[str, dict] = {}     # side -> that answer's details
        top = ctk.CTkFrame(self, fg_color="transparent")
        top.grid(row=2, column=0, sticky="ew", padx=16, pady=4)
        ctk.CTkLabel(top, text="Persona").grid(row=0, column=0, padx=(0, 6))
        self.persona_menu = ctk.CTkOptionMenu(top, values=[NO_PERSONAS], width=200)
        self.persona_menu.grid(row=0, column=1, padx=(0, 12))
        ctk.CTkLabel(top, text="Model").grid(row=0, column=2, padx=(0, 6), sticky="e")
        self.model_menu = ctk.CTkOptionMenu(top, values=[NO_MODELS], width=340)
        self.model_menu.grid(row=0, column=3, padx=(0, 12))
        ctk.CTkLabel(top, text="Compare with").grid(row=1, column=2, padx=(0, 6), pady=(6, 0), sticky="e")
        self.compare_menu = ctk.CTkOptionMenu(top, values=[NO_COMPARE], width=340)
        self.compare_menu.grid(row=1, column=3, padx=(0, 12), pady=(6, 0))
        self.load_button = Button(top, text="Load", width=80, command=self.load)
        self.load_button.grid(row=0, column=4, padx=(0, 6))
        self.unload_button = Button(top, text="Unload", width=80, command=self.unload, state="disabled")
        self.unload_button.grid(row=0, column=5)
        self.status = ctk.CTkLabel(top, text="not loaded", anchor="w")
        self.status.grid(row=2, column=0, columnspan=6, sticky="w", pady=(4, 0))
        chat = ctk.CTkFrame(self, fg_color="transparent")
        chat.grid(row=3, column=0, sticky="nsew", padx=16, pady=4)
        chat.grid_rowconfigure(0, weight=1)
        chat.grid_columnconfigure((0, 1), weight=1, uniform="column")
        self.columns = {"a": Transcript(chat, HINT), "b": Transcript(chat, COMPARE_HINT)}
        self.show_columns(("a",))
        bottom = ctk.CTkFrame(self, fg_color="transparent")
        bottom.grid(row=4, column=0, sticky="ew", padx=16, pady=(4, 14))
        bottom.grid_columnconfigure(0, weight=1)
        self.entry = ctk.CTkEntry(bottom, placeholder_text="Say something to the persona…")
        self.entry.grid(row=0, column=0, sticky="ew", padx=(0, 8))
        self.entry.bind("<Return>", lambda _event: self.send())
        self.send_button = Button(bottom, text="Send", width=80, command=self.send, state="disabled")
        self.send_button.grid(row=0, column=1)
        self.refresh_choices()

    def on_show(self) -> None:
        if self.job_id is None:
            self.refresh_choices()

    def refresh_choices(self) -> None:
        self.personas = self.run(self.actions.persona_choices) or []
        self.models = self.run(self.actions.playground_models) or []
        persona_labels = [name for _id, name in self.personas] or [NO_PERSONAS]
        model_labels = [label for label, _path in self.models] or [NO_MODELS]
        self.persona_menu.configure(values=persona_labels)
        self.persona_menu.set(persona_labels[0])
        self.model_menu.configure(values=model_labels)
        self.model_menu.set(model_labels[0])
        compare_labels = [NO_COMPARE, BASE_CHOICE, *(label for label, _path in self.models)]
        self.compare_menu.configure(values=compare_labels)
        self.compare_menu.set(self.compare_menu.get() if self.compare_menu.get() in compare_labels else NO_COMPARE)
        missing = ("no personas yet: import a server on the Data page" if not self.personas else
                   "no model exported yet: export one on the Models page" if not self.models else "")
        self.load_button.configure(state="disabled" if missing else "normal")
        self.status.configure(text=missing or "not loaded")

    def show_columns(self, sides: tuple[str, ...]) -> None:
        """One transcript across the page, or A and B side by side (each with its model's name above it)."""
        self.sides = sides
        first, second = self.columns["a"], self.columns["b"]
        if len(sides) > 1:
            first.grid(row=0, column=0, columnspan=1, sticky="nsew", padx=(0, 6))
            second.grid(row=0, column=1, sticky="nsew", padx=(6, 0))
        else:
            first.grid(row=0, column=0, columnspan=2, sticky="nsew", padx=0)
            second.grid_remove()
            first.set_header("")

    def compare_choice(self) -> str | Path | None:
        """What Compare with names: None, "base", or a model's GGUF."""
        choice = self.compare_menu.get()
        if choice == BASE_CHOICE:
            return BASE
        return next((path for label, path in self.models if label == choice), None)

    def load(self) -> None:
        persona = next(((pid, name) for pid, name in self.personas if name == self.persona_menu.get()), None)
        model = next((path for label, path in self.models if label == self.model_menu.get()), None)
        if persona is None or model is None:
            self.banner.show("pick a persona and a model first")
            return
        compare = self.compare_choice()
        if self.job_id is not None:
            self.unload()
        job_id = self.run(self.actions.start_chat, persona[0], model, **({"compare": compare} if compare else {}))
        if job_id is None:
            return
        self.job_id, self.persona_name, self.ready = job_id, persona[1], False
        sides = SIDES if compare is not None else ("a",)
        if compare is not None or sides != self.sides:  # each column starts a new conversation with its model
            for side in sides:
                self.columns[side].clear()
        self.show_columns(sides)
        if compare is not None:
            for side, label in zip(SIDES, (self.model_menu.get(), self.compare_menu.get())):
                self.columns[side].set_header(f"{side.upper()}: {label}")
        self.status.configure(text=f"loading {self.model_menu.get()} for {persona[1]}…")
        self.load_button.configure(state="disabled")
        self.unload_button.configure(state="normal")

    def unload(self) -> None:
        if self.job_id is not None:
            self.actions.stop_job(self.job_id)
        self._ended("not loaded")

    def _ended(self, text: str) -> None:
        self.job_id, self.ready, self.waiting = None, False, False
        self.pending = set()
        self.status.configure(text=text)
        self.send_button.configure(state="disabled")
        self.unload_button.configure(state="disabled")
        self.load_button.configure(state="normal" if self.personas and self.models else "disabled")

    def send(self) -> None:
        text = self.entry.get().strip()
        if not text or not self.ready or self.waiting:
            return
        self.run(self.actions.send_chat, self.job_id, text)
        if self.failed:
            return
        self.entry.delete(0, "end")
        for side in self.sides:
            self.columns[side].say("You", text)
        self.waiting, self.pending, self.replies = True, set(self.sides), {}
        self.send_button.configure(state="disabled")
        self.status.configure(text=self.typing_text())

    def typing_text(self) -> str:
        if len(self.sides) == 1:
            return f"{self.persona_name} is typing…"
        return f"{self.persona_name} is typing… ({min(self.pending).upper()})"  # the worker answers A, then B

    def transcript_text(self, side: str = "a") -> str:
        return self.columns[side].text()

    # -- events ----------------------------------------------------------------------------------------------------
    def on_job_started(self, event) -> None:
        if event.job_id != self.job_id:
            return
        self.ready = True
        self.send_button.configure(state="normal")
        details = event.details or {}
        if len(self.sides) == 1 or not details.get("compare"):
            self.status.configure(text=f"{self.persona_name} is ready ({event.device or 'cpu'})")
            return
        base = "base, " if self.compare_menu.get() == BASE_CHOICE else ""
        self.columns["a"].set_header(f"A: {self.model_menu.get()} ({event.device or 'cpu'})")
        self.columns["b"].set_header(f"B: {base}{model_label(Path(details['compare']))} "
                                     f"({details.get('compare_device') or 'cpu'})")
        self.status.configure(text=f"{self.persona_name} is ready on both models: each line goes to A, then B")

    def on_chat_replied(self, event) -> None:
        side = event.side or "a"
        if event.job_id != self.job_id or side not in self.sides:
            return
        column = self.columns[side]
        if event.parts or event.text:
            for part in event.parts or [event.text]:
                column.say(self.persona_name, part)
        else:
            column.say(self.persona_name, f"(sends nothing: {event.dropped_reason})")
        self.pending.discard(side)
        self.replies[side] = {**(event.details or {}), "sent": bool(event.parts or event.text)}
        if self.pending:
            self.status.configure(text=self.typing_text())
            return
        self.waiting = False
        self.send_button.configure(state="normal")
        self.status.configure(text=replied_text(self.replies))

    def on_job_failed(self, event) -> None:
        if event.job_id == self.job_id:
            self.banner.show(f"The playground's model stopped: {event.message}",
                             event.advice or "pick another model, or check the log in logs/chat")
            self._ended("failed")

    def on_job_finished(self, event) -> None:
        if event.job_id == self.job_id:
            self._ended("not loaded")


def replied_text(replies: dict[str, dict]) -> str:
    """The status after the last answer: its time, or each side's, and "same prompt" when both were given the same
    messages (the first line always, later ones only while both sides said the same)."""
    def took(details: dict) -> str:
        seconds = details.get("seconds")
        return f"in {seconds:.1f}s" if isinstance(seconds, (int, float)) else ""
    if len(replies) == 1:
        (details,) = replies.values()
        return " ".join(["replied", took(details)]).strip() if details["sent"] else "no reply"
    sides = ", ".join(" ".join([side.upper(), "replied" if details["sent"] else "sent nothing", took(details)]).strip()
                      for side, details in sorted(replies.items()))
    prompts = {details.get("prompt") for details in replies.values()}
    return f"{sides} (same prompt)" if len(prompts) == 1 and None not in prompts else sides
