"""The Training page's run form: base model, preset, the key hyperparameters with tooltips, how many GPUs, and the
memory estimate computed on a thread as the values change (its answer also says how many GPUs there are). A mixin
of ``TrainingView`` (it uses the page's ``actions``, ``card`` and ``banner``); the live part of the page (progress,
chart, log, replay) stays in training.py.

"Train in the cloud" makes Start count whose messages the upload would send (on a thread), ask with that sentence
(``gui.views.cloud_consent``), and only then start the cloud run; its events arrive as a local run's do. The GPU
count is this machine's: a cloud run leaves it out.
"""
from __future__ import annotations

import threading
from tkinter import filedialog

import customtkinter as ctk

from gui.views.cloud_consent import CloudUploadDialog
from gui.widgets.button import Button
from gui.widgets.tooltip import Tooltip

VRAM_TASK = "vram-estimate"
START_TASK = "train-start"  # planning reads the model's shape: seconds for a GGUF
AUTO_PRESET = "auto (by GPU)"
ESTIMATE_DELAY_MS = 600  # typing pauses this long before the estimate is redone
COUNT_POLL_MS = 100  # how often the Tk thread looks whether the upload's count is done
DEFAULT_ACCELERATOR = "A10G:1"  # as core.training.cloud_task's (not imported here: the form stays light)
FIELDS = (  # key, label, type, tooltip
    ("max_steps", "Max steps", int, "stop after this many optimizer steps (0: as many as the epochs need)"),
    ("num_epochs", "Epochs", float, "passes over the training set; one is usually enough for chat data"),
    ("learning_rate", "Learning rate", float, "LoRA step size; 2e-4 is the usual value, lower if the loss jumps"),
    ("lora_r", "LoRA rank", int, "adapter size: 16 captures a voice, higher mostly memorises"),
    ("per_device_batch_size", "Batch size", int, "rows per step: the main memory knob after max length"),
    ("max_length", "Max length", int, "tokens per packed row; longer needs more memory"),
)
GPUS_KEY = "gpus"   # in flags(): the GPU count for the launcher, not a training knob (the actions take it out)
GPUS_ALL = "all"    # the default: every visible GPU, decided when the run is planned


def gpu_choices(found: dict) -> tuple[list[str], bool, str]:
    """(menu values, enabled, tooltip) for the GPU count that an estimate answer reports."""
    count = found.get("gpus")
    if count is None:
        return [GPUS_ALL], False, "every visible GPU (still counting them)"
    if count == 0:
        return ["none"], False, "no NVIDIA GPU found: training runs on the CPU, in one process"
    if count == 1:
        return ["1"], False, "one GPU found"
    if not found.get("several_gpus", True):
        return ["1"], False, found.get("gpus_note") or "several GPUs train on Linux only"
    return ([GPUS_ALL, *(str(n) for n in range(1, count + 1))], True,
            f"{count} GPUs: train on this many, one process each, data parallel (accelerate launch). The batch per "
            "step grows with the count (batch size x accumulation x GPUs). Resume continues with the run's count.")


class RunForm:
    def _build_form(self) -> None:
        card = self.card(2, "Run")
        card.grid_columnconfigure((1, 3, 5), weight=1)
        ctk.CTkLabel(card, text="Base model").grid(row=1, column=0, sticky="w", padx=12, pady=2)
        self.base = ctk.CTkEntry(card)
        self.base.grid(row=1, column=1, columnspan=3, sticky="ew", pady=2)
        self.base.insert(0, self.actions.default_base_model() or "")
        self.base.bind("<KeyRelease>", lambda _e: self.schedule_estimate())
        Button(card, text="Browse…", width=90, command=self.browse).grid(row=1, column=4, padx=8)
        self.preset = ctk.CTkOptionMenu(card, values=[AUTO_PRESET, *(self.actions.presets() or [])], width=150,
                                        command=lambda _v: self.schedule_estimate())
        self.preset.grid(row=1, column=5, sticky="w", padx=(0, 12))
        Tooltip(self.preset, "a preset sizes the run for a GPU; auto picks the one that fits the GPU found")
        self.entries: dict[str, ctk.CTkEntry] = {}
        for index, (key, label, _kind, tip) in enumerate(FIELDS):
            row, column = 2 + index // 3, 2 * (index % 3)
            text = ctk.CTkLabel(card, text=label)
            text.grid(row=row, column=column, sticky="w", padx=12, pady=2)
            Tooltip(text, tip + " (empty: the preset's value)")
            entry = ctk.CTkEntry(card, width=110, placeholder_text="preset")
            entry.grid(row=row, column=column + 1, sticky="w", pady=2)
            entry.bind("<KeyRelease>", lambda _e: self.schedule_estimate())
            self.entries[key] = entry
        gpus_label = ctk.CTkLabel(card, text="GPUs")
        gpus_label.grid(row=4, column=0, sticky="w", padx=12, pady=2)
        self.gpus = ctk.CTkOptionMenu(card, values=[GPUS_ALL], width=110, state="disabled")
        self.gpus.grid(row=4, column=1, sticky="w", pady=2)
        self.gpus_tips = (Tooltip(gpus_label, gpu_choices({})[2]), Tooltip(self.gpus, gpu_choices({})[2]))
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=5, column=0, columnspan=6, sticky="ew", padx=12, pady=(6, 8))
        buttons.grid_columnconfigure(3, weight=1)
        self.start_button = Button(buttons, text="Start", width=90, command=self.start_clicked)
        self.stop_button = Button(buttons, text="Stop", width=90, command=self.stop, state="disabled")
        self.resume_button = Button(buttons, text="Resume", width=90, command=self.resume, state="disabled")
        for column, button in enumerate((self.start_button, self.stop_button, self.resume_button)):
            button.grid(row=0, column=column, padx=(0, 8))
        self.estimate_label = ctk.CTkLabel(buttons, text="memory: estimating…", anchor="w", justify="left",
                                           wraplength=560)
        self.estimate_label.grid(row=0, column=3, sticky="w", padx=8)
        self.cloud_choice = ctk.CTkCheckBox(card, text="Train in the cloud")
        self.cloud_choice.grid(row=6, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 8))
        Tooltip(self.cloud_choice, "rent a GPU through SkyPilot (pip install -r requirements-cloud.txt, sky check): "
                                   "the dataset is uploaded after you confirm whose messages leave this machine")
        self.accelerator = ctk.CTkEntry(card, width=110)
        self.accelerator.insert(0, DEFAULT_ACCELERATOR)
        self.accelerator.grid(row=6, column=2, sticky="w", pady=(0, 8))
        Tooltip(self.accelerator, "the GPU to rent, as SkyPilot names it: A10G:1, L4:1, A100:1...")
        self.cloud_dialog = None

    # -- Start, with the cloud's question first ---------------------------------------------------------------------
    def start_clicked(self) -> None:
        if not self.cloud_choice.get():
            self.start()
            return
        try:
            self.flags()
        except ValueError as exc:
            self.banner.show(str(exc), "leave it empty to use the preset's value")
            return
        self.start_button.configure(state="disabled")
        self.progress.set_text("counting whose messages the upload would send…", 0.0)
        found: dict = {}
        threading.Thread(target=self._count_people, args=(found,), daemon=True, name="panel-cloud-count").start()
        self.after(COUNT_POLL_MS, self._counted, found)

    def _count_people(self, found: dict) -> None:
        """Off the Tk thread: touches ``found`` only."""
        from gui.errors import ActionError
        try:
            found["result"] = self.actions.cloud_upload_people()
        except ActionError as exc:
            found["error"] = (exc.what, exc.advice)
        except Exception as exc:  # a bug still ends as words in the banner
            found["error"] = (f"counting the upload's people failed: {exc}", "")
        found["done"] = True

    def _counted(self, found: dict) -> None:
        if "done" not in found:
            self.after(COUNT_POLL_MS, self._counted, found)
            return
        self.start_button.configure(state="normal")
        self.progress.set_text("", 0.0)
        if "error" in found:
            self.banner.show(*found["error"])
            return
        people, sentence = found["result"]
        self.cloud_dialog = CloudUploadDialog(self, sentence, lambda: self.start_cloud(people))

    def start_cloud(self, people: int) -> None:
        """Confirmed: plan the run, write its task and start the cloud worker (a background task like Start's)."""
        try:
            flags = self.flags()
        except ValueError as exc:
            self.banner.show(str(exc), "leave it empty to use the preset's value")
            return
        flags.pop(GPUS_KEY, None)  # this machine's GPUs: the rented one trains alone
        self.job_id, self.pending_start = None, True
        self.reset(None)
        self.start_button.configure(state="disabled")
        self.progress.set_text("planning the cloud run and writing its task…", 0.0)
        self.actions.in_background(START_TASK, self.actions.start_cloud_training, self.base.get().strip(),
                                   self.preset_name(), flags, self.accelerator.get().strip(), people)

    # -- the form ---------------------------------------------------------------------------------------------------
    def browse(self) -> None:
        path = filedialog.askopenfilename(parent=self, title="Base model (.gguf)", filetypes=[("GGUF", "*.gguf")])
        if path:
            self.base.delete(0, "end")
            self.base.insert(0, path)
            self.schedule_estimate()

    def flags(self) -> dict:
        values = {}
        for key, label, kind, _tip in FIELDS:
            text = self.entries[key].get().strip()
            if text:
                try:
                    values[key] = kind(text)
                except ValueError:
                    raise ValueError(f"{label} must be a {'whole ' if kind is int else ''}number, not {text!r}")
        if self.gpus.get().isdigit():
            values[GPUS_KEY] = int(self.gpus.get())
        return values

    def show_gpus(self, found: dict) -> None:
        choices, enabled, tip = gpu_choices(found)
        current = self.gpus.get()
        self.gpus.configure(values=choices, state="normal" if enabled else "disabled")
        self.gpus.set(current if current in choices else choices[0])
        for tooltip in self.gpus_tips:
            tooltip.text = tip

    def preset_name(self) -> str | None:
        value = self.preset.get()
        return None if value == AUTO_PRESET else value

    def schedule_estimate(self) -> None:
        if self._estimate_after is not None:
            self.after_cancel(self._estimate_after)
        self._estimate_after = self.after(ESTIMATE_DELAY_MS, self.estimate)

    def estimate(self) -> None:
        self._estimate_after = None
        try:
            flags = self.flags()
        except ValueError as exc:
            self.estimate_label.configure(text=str(exc))
            return
        self.actions.in_background(VRAM_TASK, self.actions.estimate_memory, self.base.get().strip(),
                                   self.preset_name(), flags)

    def show_estimate(self, event) -> None:
        """The answer of the background estimate (a TaskFinished of VRAM_TASK)."""
        if event.error:
            self.estimate_label.configure(text=f"{event.error[0]}")
            return
        found = event.result
        if "gpus" in found:
            self.show_gpus(found)
        if found.get("total_gb") is None:
            self.estimate_label.configure(text=found.get("warning") or "no estimate")
            return
        where = "GPU memory" if found["device"] == "cuda" else "RAM (no NVIDIA GPU: training runs on the CPU, slowly)"
        available = f" of {found['available_gb']:.1f} GB" if found.get("available_gb") else ""
        text = f"memory: about {found['total_gb']:.1f} GB{available} {where}"
        self.estimate_label.configure(text=text + (f"\n{found['warning']}" if found.get("warning") else ""))
