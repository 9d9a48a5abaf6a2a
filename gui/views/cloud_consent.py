"""The question asked before a cloud run uploads the dataset: the sentence that names how many people's messages
leave this machine (``core.dataset.leaving.confirmation_text``, the CLI's too), Upload or Cancel."""
from __future__ import annotations

from typing import Callable

import customtkinter as ctk


class CloudUploadDialog(ctk.CTkToplevel):
    def __init__(self, master, text: str, on_upload: Callable[[], None]) -> None:
        super().__init__(master)
        self.on_upload = on_upload
        self.text = text
        self.title("Upload the dataset?")
        self.resizable(False, False)
        ctk.CTkLabel(self, text=text, justify="left", wraplength=440).grid(row=0, column=0, columnspan=2,
                                                                           padx=16, pady=(16, 12), sticky="w")
        self.upload_button = ctk.CTkButton(self, text="Upload and train", command=self.choose_upload)
        self.upload_button.grid(row=1, column=0, padx=(16, 6), pady=(0, 16), sticky="w")
        self.cancel_button = ctk.CTkButton(self, text="Cancel", fg_color="gray40", command=self.destroy)
        self.cancel_button.grid(row=1, column=1, padx=(6, 16), pady=(0, 16), sticky="e")
        self.transient(master.winfo_toplevel())

    def choose_upload(self) -> None:
        self.destroy()
        self.on_upload()
