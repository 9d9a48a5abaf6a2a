"""The question asked when the window closes while jobs run: stop them and quit, hide to the tray, or cancel."""
from __future__ import annotations

import customtkinter as ctk

from gui.widgets.dialog import present


class CloseDialog(ctk.CTkToplevel):
    def __init__(self, app, jobs: list[tuple[str, str, str]], *, tray: bool) -> None:
        super().__init__(app)
        self.app = app
        self.title("Jobs are running")
        self.resizable(False, False)
        names = ", ".join(sorted({name for _id, name, _state in jobs}))
        text = (f"{len(jobs)} job(s) still running ({names}).\nQuitting stops them: training saves a checkpoint "
                f"first and can be resumed.")
        ctk.CTkLabel(self, text=text, justify="left", wraplength=420).grid(row=0, column=0, columnspan=3,
                                                                           padx=16, pady=(16, 12), sticky="w")
        self.quit_button = ctk.CTkButton(self, text="Stop jobs and quit", command=self.choose_quit)
        self.quit_button.grid(row=1, column=0, padx=(16, 6), pady=(0, 16))
        self.tray_button = ctk.CTkButton(self, text="Keep running in the tray", command=self.choose_tray,
                                         state="normal" if tray else "disabled")
        self.tray_button.grid(row=1, column=1, padx=6, pady=(0, 16))
        self.cancel_button = ctk.CTkButton(self, text="Cancel", fg_color="gray40", command=self.destroy)
        self.cancel_button.grid(row=1, column=2, padx=(6, 16), pady=(0, 16))
        present(self, app)

    def choose_quit(self) -> None:
        self.destroy()
        self.app.quit_app()

    def choose_tray(self) -> None:
        self.destroy()
        self.app.withdraw()


def ask_close(app, jobs, *, tray: bool) -> CloseDialog:
    dialog = CloseDialog(app, jobs, tray=tray)
    app.close_dialog = dialog  # tests find it here
    return dialog
