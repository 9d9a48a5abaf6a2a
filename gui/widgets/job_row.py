"""A job row: the shared ProgressRow plus a Cancel button and the job's state, following one job id at a time.

The owning view forwards its events (``handle(event)``); the row ignores other jobs' events. On failure it shows the
job's message and advice (``JobFailed``) in words; ``on_end(state, event)`` lets the view refresh what the job
changed (statistics after an import, the runs list after an export).
"""
from __future__ import annotations

from typing import Callable

import customtkinter as ctk

from gui.widgets.progress import ProgressRow
from gui.widgets.button import Button

ENDED = ("finished", "stopped", "failed")


class JobRow(ctk.CTkFrame):
    def __init__(self, master, title: str, stop: Callable[[str], None], *,
                 on_end: Callable[[str, object], None] | None = None, cancel_text: str = "Cancel", **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.stop = stop
        self.on_end = on_end
        self.job_id: str | None = None
        self.state = ""
        self.grid_columnconfigure(0, weight=1)
        self.title = ctk.CTkLabel(self, text=title, anchor="w")
        self.title.grid(row=0, column=0, sticky="w")
        self.cancel_button = Button(self, text=cancel_text, width=80, command=self.cancel, state="disabled")
        self.cancel_button.grid(row=0, column=1, padx=(8, 0))
        self.progress = ProgressRow(self)  # on its own line: the bar keeps its width in a narrow card
        self.progress.label.configure(width=200)
        self.progress.grid(row=1, column=0, columnspan=2, sticky="ew")
        self.message = ctk.CTkLabel(self, text="", anchor="w", justify="left", wraplength=340,
                                    text_color=("gray30", "gray70"))
        self.message.grid(row=2, column=0, columnspan=2, sticky="w")

    def track(self, job_id: str | None) -> None:
        self.job_id = job_id
        if job_id is None:
            return
        self.state = "starting"
        self.progress.set_text("starting…", 0.0)
        self.message.configure(text="")
        self.cancel_button.configure(state="normal")

    @property
    def running(self) -> bool:
        return self.job_id is not None and self.state not in ENDED

    def cancel(self) -> None:
        if self.running:
            self.stop(self.job_id)
            self.cancel_button.configure(state="disabled")
            self.progress.set_text("stopping…")

    def handle(self, event) -> bool:
        """Show ``event`` if it is about the tracked job; True when it was."""
        if self.job_id is None or event.job_id != self.job_id:
            return False
        kind = type(event).__name__
        if kind == "ProgressReported":
            self.progress.update_from(event)
        elif kind == "JobFailed":
            advice = f"\n{event.advice}" if event.advice else ""
            self.message.configure(text=f"failed: {event.message}{advice}", text_color=("#9b1c1c", "#f19999"))
        elif kind == "JobFinished" and event.status == "finished":
            self.progress.set_text("done", 1.0)
        elif kind == "JobStateChanged":
            self.state = event.state
            if event.state in ENDED:
                self.cancel_button.configure(state="disabled")
                if event.state != "finished":
                    self.progress.set_text(event.state)
                if self.on_end is not None:
                    self.on_end(event.state, event)
        return True
