"""Settings: the workspace, the bot token (a masked field; stored in the OS keyring and never shown again), the
memory embedder, GPU layers (for the bot, a bot setting, and the playground), close-to-tray (with what this desktop's
tray gives: on Linux without PyGObject, no menu, and how to get one) and the theme; and the executable's training
runtime (status, install with progress)."""
from __future__ import annotations

import customtkinter as ctk

from gui.views.base import PageView
from gui.widgets.tooltip import Tooltip
from gui.widgets.button import Button
from gui.widgets.job_row import JobRow

THEMES = ("system", "light", "dark")
TOKEN_STATES = {"keyring": "a token is stored in the OS keyring", "environment":
                "the token comes from the DPS_BOT_TOKEN environment variable", "": "no token yet"}


def tray_note() -> str:
    """What this desktop's tray gives (``gui.tray_backend``), or "" when no tray was started."""
    from gui import tray_backend
    choice = tray_backend.chosen()
    return f"Tray: {choice.note}" if choice is not None else ""


class SettingsView(PageView):
    TITLE = "Settings"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self._workspace_card()
        self._token_card()
        self._app_card()
        self._runtime_card()

    def _workspace_card(self) -> None:
        card = self.card(2, "Workspace")
        self.workspace_label = ctk.CTkLabel(card, text=str(self.actions.workspace.root), anchor="w")
        self.workspace_label.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=2, column=0, columnspan=2, sticky="w", padx=12, pady=(4, 10))
        Button(buttons, text="Open another workspace…", command=self.choose_workspace).grid(row=0, column=0)
        Button(buttons, text="Try the sample server", command=self.open_sample).grid(row=0, column=1,
                                                                                           padx=8)

    def _token_card(self) -> None:
        card = self.card(3, "Discord bot token")
        self.token_state = ctk.CTkLabel(card, text="", anchor="w")
        self.token_state.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        self.token_entry = ctk.CTkEntry(card, show="•", width=420, placeholder_text="paste the token here")
        self.token_entry.grid(row=2, column=0, sticky="w", padx=12, pady=4)
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=2, column=1, sticky="w", pady=4)
        self.save_token_button = Button(buttons, text="Save token", width=110, command=self.save_token)
        self.save_token_button.grid(row=0, column=0, padx=(0, 8))
        self.forget_button = Button(buttons, text="Forget token", width=110, fg_color="gray40",
                                           command=self.forget_token)
        self.forget_button.grid(row=0, column=1)
        ctk.CTkLabel(card, text="The token goes to the OS keyring; it is never written to a file or shown again.",
                     anchor="w", text_color=("gray35", "gray65")).grid(row=3, column=0, columnspan=2, sticky="w",
                                                                        padx=12, pady=(0, 10))
        self._show_token_state()

    def _app_card(self) -> None:
        card = self.card(4, "App")
        prefs = self.actions.preferences
        label = ctk.CTkLabel(card, text="Memory embedder")
        label.grid(row=1, column=0, sticky="w", padx=12, pady=4)
        Tooltip(label, "a sentence-transformers folder or name; empty = the bundled all-MiniLM-L6-v2")
        self.embedder_entry = ctk.CTkEntry(card, width=420, placeholder_text="bundled all-MiniLM-L6-v2")
        self.embedder_entry.grid(row=1, column=1, sticky="w", pady=4)
        embedder = self.run(self.actions.embedder)
        if embedder:
            self.embedder_entry.insert(0, embedder)
        label = ctk.CTkLabel(card, text="GPU layers")
        label.grid(row=2, column=0, sticky="w", padx=12, pady=4)
        Tooltip(label, "llama.cpp layers on the GPU for the bot and the playground: -1 = all that fit, 0 = CPU only "
                       "(the bot uses a new value from its next model load: Reload model or a restart)")
        self.gpu_entry = ctk.CTkEntry(card, width=90)
        self.gpu_entry.insert(0, str(prefs.gpu_layers))
        self.gpu_entry.grid(row=2, column=1, sticky="w", pady=4)
        self.tray_switch = ctk.CTkSwitch(card, text="Close to the tray (the bot keeps running)")
        (self.tray_switch.select if prefs.close_to_tray else self.tray_switch.deselect)()
        self.tray_switch.grid(row=3, column=0, columnspan=2, sticky="w", padx=12, pady=4)
        self.tray_note = ctk.CTkLabel(card, text=tray_note(), anchor="w", justify="left", wraplength=760,
                                      font=ctk.CTkFont(size=11), text_color=("gray35", "gray65"))
        if self.tray_note.cget("text"):
            self.tray_note.grid(row=4, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 4))
        ctk.CTkLabel(card, text="Theme").grid(row=5, column=0, sticky="w", padx=12, pady=4)
        self.theme_buttons = ctk.CTkSegmentedButton(card, values=list(THEMES), command=self.set_theme)
        self.theme_buttons.set(prefs.theme)
        self.theme_buttons.grid(row=5, column=1, sticky="w", pady=4)
        self.save_button = Button(card, text="Save", command=self.save_app)
        self.save_button.grid(row=6, column=0, sticky="w", padx=12, pady=(6, 12))

    # -- verbs -----------------------------------------------------------------------------------------------------
    def _runtime_card(self) -> None:
        card = self.card(5, "Training runtime")
        self.runtime_state = ctk.CTkLabel(card, text="", anchor="w", justify="left",
                                          wraplength=760)
        self.runtime_state.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=2, column=0, columnspan=2, sticky="w", padx=12, pady=4)
        self.install_button = Button(buttons, text="Install (CPU)", width=130, command=lambda: self.install(False))
        self.install_button.grid(row=0, column=0, padx=(0, 8))
        self.install_cuda_button = Button(buttons, text="Install (NVIDIA GPU)", width=160,
                                          command=lambda: self.install(True))
        self.install_cuda_button.grid(row=0, column=1)
        Tooltip(self.install_cuda_button, "the CUDA build of torch plus Unsloth and bitsandbytes (QLoRA); "
                                          "a few GB to download")
        self.runtime_row = JobRow(card, "Install", self.actions.stop_job, on_end=self.runtime_ended)
        self.job_rows = (self.runtime_row,)
        self.runtime_row.grid(row=3, column=0, columnspan=2, sticky="ew", padx=12, pady=(0, 10))
        self.runtime_ended("", None)

    def install(self, cuda: bool) -> None:
        job_id = self.run(self.actions.install_runtime, cuda)
        if job_id:
            self.runtime_row.track(job_id)
            for button in (self.install_button, self.install_cuda_button):
                button.configure(state="disabled")

    def runtime_ended(self, state: str, event) -> None:
        self.runtime_state.configure(text=self.actions.runtime_status() or "")
        usable = "normal" if self.actions.runtime_installable() else "disabled"  # the label says why not
        for button in (self.install_button, self.install_cuda_button):
            button.configure(state=usable)

    def _show_token_state(self) -> None:
        self.token_state.configure(text=TOKEN_STATES.get(self.run(self.actions.token_status) or "", "no token yet"))

    def save_token(self) -> None:
        token = self.token_entry.get()
        self.token_entry.delete(0, "end")  # never kept in the widget, whatever happens next
        if not token.strip():
            self.banner.show("no token entered", "paste the token from the Discord developer portal's Bot page")
            return
        self.run(self.actions.save_token, token)
        if not self.failed:
            self.banner.show("Token saved in the OS keyring", kind="ok")
        self._show_token_state()

    def forget_token(self) -> None:
        removed = self.run(self.actions.forget_token)
        if not self.failed:
            self.banner.show("Token removed from the keyring" if removed else "no token was stored in the keyring",
                             kind="ok")
        self._show_token_state()

    def set_theme(self, theme: str) -> None:
        ctk.set_appearance_mode(theme)
        self.run(self.actions.save_preferences, theme=theme)

    def save_app(self) -> None:
        text = self.gpu_entry.get().strip()
        try:
            gpu_layers = int(text)
        except ValueError:
            self.banner.show(f"GPU layers: {text!r} is not a whole number", "use -1 for all, 0 for the CPU")
            return
        self.run(self.actions.set_bot_setting, "gpu_layers", gpu_layers)  # validated there (-1..1000)
        if self.failed:
            return
        self.run(self.actions.save_preferences, gpu_layers=gpu_layers, close_to_tray=bool(self.tray_switch.get()))
        if self.failed:
            return
        self.run(self.actions.set_embedder, self.embedder_entry.get())
        if not self.failed:
            self.banner.show("Settings saved", kind="ok")

    def choose_workspace(self) -> None:
        from tkinter import filedialog
        folder = filedialog.askdirectory(title="Choose a workspace folder", mustexist=False)
        if folder:
            self.run(self.actions.switch_workspace, folder)

    def open_sample(self) -> None:
        self.open_page("wizard")
