"""Playground: chat with a persona through the bot's own reply pipeline, in a ``chat`` worker that keeps the model
loaded (the window never waits: Load and Send return at once, the reply arrives as a ChatReplied event)."""
from __future__ import annotations

import customtkinter as ctk

from gui.views.base import PageView
from gui.widgets.button import Button

NO_PERSONAS = "(no personas yet)"
NO_MODELS = "(no model yet)"
HINT = "Pick a persona and a model, press Load, then say something below: the persona answers here."


class PlaygroundView(PageView):
    TITLE = "Playground"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(3, weight=1)
        self.job_id: str | None = None
        self.ready = False
        self.waiting = False
        self.persona_name = ""
        top = ctk.CTkFrame(self, fg_color="transparent")
        top.grid(row=2, column=0, sticky="ew", padx=16, pady=4)
        ctk.CTkLabel(top, text="Persona").grid(row=0, column=0, padx=(0, 6))
        self.persona_menu = ctk.CTkOptionMenu(top, values=[NO_PERSONAS], width=200)
        self.persona_menu.grid(row=0, column=1, padx=(0, 12))
        ctk.CTkLabel(top, text="Model").grid(row=0, column=2, padx=(0, 6))
        self.model_menu = ctk.CTkOptionMenu(top, values=[NO_MODELS], width=300)
        self.model_menu.grid(row=0, column=3, padx=(0, 12))
        self.load_button = Button(top, text="Load", width=80, command=self.load)
        self.load_button.grid(row=0, column=4, padx=(0, 6))
        self.unload_button = Button(top, text="Unload", width=80, command=self.unload, state="disabled")
        self.unload_button.grid(row=0, column=5)
        self.status = ctk.CTkLabel(top, text="not loaded", anchor="w")
        self.status.grid(row=1, column=0, columnspan=6, sticky="w", pady=(4, 0))
        self.transcript = ctk.CTkTextbox(self, wrap="word", border_width=1, border_color=("gray62", "gray38"))
        self.transcript.grid(row=3, column=0, sticky="nsew", padx=16, pady=4)
        self.transcript._textbox.tag_configure("hint", foreground="gray50")
        self.transcript.insert("1.0", HINT, ("hint",))  # an empty chat says what to do, until the first line
        self.transcript.configure(state="disabled")
        self.hint_shown = True
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
        missing = ("no personas yet: import a server on the Data page" if not self.personas else
                   "no model exported yet: export one on the Models page" if not self.models else "")
        self.load_button.configure(state="disabled" if missing else "normal")
        self.status.configure(text=missing or "not loaded")

    def load(self) -> None:
        persona = next(((pid, name) for pid, name in self.personas if name == self.persona_menu.get()), None)
        model = next((path for label, path in self.models if label == self.model_menu.get()), None)
        if persona is None or model is None:
            self.banner.show("pick a persona and a model first")
            return
        if self.job_id is not None:
            self.unload()
        job_id = self.run(self.actions.start_chat, persona[0], model)
        if job_id is None:
            return
        self.job_id, self.persona_name, self.ready = job_id, persona[1], False
        self.status.configure(text=f"loading {self.model_menu.get()} for {persona[1]}…")
        self.load_button.configure(state="disabled")
        self.unload_button.configure(state="normal")

    def unload(self) -> None:
        if self.job_id is not None:
            self.actions.stop_job(self.job_id)
        self._ended("not loaded")

    def _ended(self, text: str) -> None:
        self.job_id, self.ready, self.waiting = None, False, False
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
        self.say("You", text)
        self.waiting = True
        self.send_button.configure(state="disabled")
        self.status.configure(text=f"{self.persona_name} is typing…")

    def say(self, who: str, text: str) -> None:
        self.transcript.configure(state="normal")
        if self.hint_shown:
            self.transcript.delete("1.0", "end")
            self.hint_shown = False
        self.transcript.insert("end", f"{who}: {text}\n\n")
        self.transcript.configure(state="disabled")
        self.transcript.see("end")

    def transcript_text(self) -> str:
        return "" if self.hint_shown else self.transcript.get("1.0", "end-1c")

    # -- events ----------------------------------------------------------------------------------------------------
    def on_job_started(self, event) -> None:
        if event.job_id == self.job_id:
            self.ready = True
            self.status.configure(text=f"{self.persona_name} is ready ({event.device or 'cpu'})")
            self.send_button.configure(state="normal")

    def on_chat_replied(self, event) -> None:
        if event.job_id != self.job_id:
            return
        self.waiting = False
        self.send_button.configure(state="normal")
        if event.parts or event.text:
            for part in event.parts or [event.text]:
                self.say(self.persona_name, part)
            seconds = (event.details or {}).get("seconds")
            self.status.configure(text=f"replied in {seconds:.1f}s" if isinstance(seconds, (int, float))
                                  else "replied")
        else:
            self.say(self.persona_name, f"(sends nothing: {event.dropped_reason})")
            self.status.configure(text="no reply")

    def on_job_failed(self, event) -> None:
        if event.job_id == self.job_id:
            self.banner.show(f"The playground's model stopped: {event.message}",
                             event.advice or "pick another model, or check the log in logs/chat")
            self._ended("failed")

    def on_job_finished(self, event) -> None:
        if event.job_id == self.job_id:
            self._ended("not loaded")
