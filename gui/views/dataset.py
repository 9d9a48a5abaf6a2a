"""Dataset: prepare options and Prepare with progress; the rendered preview with the trained tokens marked; curation:
page through the latest dataset's training examples, filter by persona, mark each good or bad.

"Also write" adds the same splits in another trainer's or a hosted service's format (``core.dataset.formats``); for a
hosted service the page asks first, naming how many people's messages would leave the machine, and writes the files
only after Yes. A bad example is dropped at the next prepare; with a better answer typed in it becomes a DPO pair
(the better answer chosen, the example's own rejected). Marks are stored by the example's stable id (its message
id), so they survive a re-prepare. The example index is built on a thread (``actions.in_background``); reading a page
is a few seeks.
"""
from __future__ import annotations

import customtkinter as ctk

from core.dataset.formats import FORMATS, HOSTED

from gui.views.base import PageView
from gui.widgets.emoji import insert_with_emoji
from gui.widgets.job_row import JobRow
from gui.widgets.tooltip import Tooltip
from gui.widgets.button import Button

INDEX_TASK = "curation-index"
ALL_PERSONAS = "all personas"
TRAINED_COLOURS = ("#1b6e2d", "#7ddc8f")   # light, dark: the trained part of a rendered example
MARK_TEXT = {None: "not reviewed", "good": "marked good", "bad": "marked bad"}
FORMAT_TIP = ("chatml: only our own files. llamafactory / axolotl: the same examples for those trainers, in a folder "
              "of the dataset. openai: files for OpenAI, Together or Fireworks fine-tuning; you are asked first, "
              "because they are made to leave this machine")


def show_parts(box: ctk.CTkTextbox, parts, dark: bool) -> None:
    """Render (text, trained) runs into a read-only textbox, the trained runs highlighted; emoji are drawn with the
    emoji font where one is installed (``gui.widgets.emoji``)."""
    widget = box._textbox
    widget.configure(state="normal")
    widget.delete("1.0", "end")
    widget.tag_configure("trained", foreground=TRAINED_COLOURS[dark], underline=True)
    for text, trained in parts:
        insert_with_emoji(widget, text, ("trained",) if trained else ())
    widget.configure(state="disabled")


class DatasetView(PageView):
    TITLE = "Dataset"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(2, weight=1)
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.grid(row=2, column=0, sticky="nsew", padx=4)
        body.grid_columnconfigure((0, 1), weight=1, uniform="halves")
        body.grid_rowconfigure(1, weight=1)
        self.body = body
        self.index = None
        self.personas: dict[str, int | None] = {ALL_PERSONAS: None}
        self.page = 0
        self.current = None
        self.hosted: str | None = None   # the hosted format to ask about when the running prepare finishes
        self.dialog = None
        self._build_prepare()
        self._build_preview()
        self._build_curation()
        self.reload()

    # -- building ---------------------------------------------------------------------------------------------------
    def _build_prepare(self) -> None:
        card = self.card(0, "Prepare", parent=self.body)
        card.grid_configure(padx=(12, 6))
        self.options: dict[str, ctk.CTkEntry] = {}
        fields = (("personas", "Personas", "all", "all, top:N, or names/ids separated by commas"),
                  ("min_messages", "Min. messages", "", "authors with fewer messages are not personas "
                                                       "(empty: config.toml's dataset.min_messages)"),
                  ("seed", "Seed", "", "same data + same seed = same files (empty: config.toml's)"))
        for row, (key, label, default, tip) in enumerate(fields, start=1):
            text = ctk.CTkLabel(card, text=label, anchor="w")
            text.grid(row=row, column=0, sticky="w", padx=12, pady=2)
            Tooltip(text, tip)
            entry = ctk.CTkEntry(card, placeholder_text=default or "from config")
            entry.grid(row=row, column=1, sticky="ew", padx=(0, 12), pady=2)
            if default:
                entry.insert(0, default)
            self.options[key] = entry
        ctk.CTkLabel(card, text="Strategy", anchor="w").grid(row=4, column=0, sticky="w", padx=12, pady=2)
        self.strategy = ctk.CTkOptionMenu(card, values=["multi", "per-persona"], width=140)
        self.strategy.grid(row=4, column=1, sticky="w", pady=2)
        ctk.CTkLabel(card, text="Split by", anchor="w").grid(row=5, column=0, sticky="w", padx=12, pady=2)
        self.split_by = ctk.CTkOptionMenu(card, values=["conversation", "time"], width=140)
        self.split_by.grid(row=5, column=1, sticky="w", pady=2)
        format_label = ctk.CTkLabel(card, text="Also write", anchor="w")
        format_label.grid(row=6, column=0, sticky="w", padx=12, pady=2)
        Tooltip(format_label, FORMAT_TIP)
        self.format = ctk.CTkOptionMenu(card, values=list(FORMATS), width=140)
        self.format.grid(row=6, column=1, sticky="w", pady=2)
        self.prepare_button = Button(card, text="Prepare", command=self.prepare)
        self.prepare_button.grid(row=7, column=0, padx=12, pady=(6, 2), sticky="w")
        self.summary = ctk.CTkLabel(card, text="", anchor="w", justify="left", wraplength=330)
        self.summary.grid(row=8, column=0, columnspan=2, sticky="w", padx=12, pady=(2, 2))
        self.prepare_row = JobRow(card, "Progress", self.actions.stop_job, on_end=self.prepared)
        self.job_rows = (self.prepare_row,)
        self.prepare_row.grid(row=9, column=0, columnspan=2, sticky="ew", padx=12, pady=(2, 8))

    def _build_preview(self) -> None:
        card = self.card(1, "Preview (trained text in green)", parent=self.body)
        card.grid_configure(padx=(12, 6))
        card.grid_rowconfigure(1, weight=1)
        self.preview = ctk.CTkTextbox(card, wrap="word", font=ctk.CTkFont(family="Courier", size=11))
        self.preview.grid(row=1, column=0, columnspan=2, sticky="nsew", padx=8, pady=(0, 8))

    def _build_curation(self) -> None:
        card = self.card(0, "Curation", column=1, parent=self.body, rowspan=2)
        card.grid_configure(padx=(6, 12))
        card.grid_rowconfigure(3, weight=1)
        bar = ctk.CTkFrame(card, fg_color="transparent")
        bar.grid(row=1, column=0, columnspan=2, sticky="ew", padx=8)
        self.persona_menu = ctk.CTkOptionMenu(bar, values=[ALL_PERSONAS], width=170, command=self.filter_changed)
        self.persona_menu.grid(row=0, column=0, padx=(4, 8))
        self.unmarked = ctk.CTkCheckBox(bar, text="not reviewed only", command=self.filter_changed)
        self.unmarked.grid(row=0, column=1)
        nav = ctk.CTkFrame(card, fg_color="transparent")
        nav.grid(row=2, column=0, columnspan=2, sticky="ew", padx=8, pady=4)
        self.previous_button = Button(nav, text="◀", width=36, command=lambda: self.turn(-1))
        self.previous_button.grid(row=0, column=0, padx=4)
        self.position = ctk.CTkLabel(nav, text="no dataset yet", width=150)
        self.position.grid(row=0, column=1)
        self.next_button = Button(nav, text="▶", width=36, command=lambda: self.turn(1))
        self.next_button.grid(row=0, column=2, padx=4)
        self.mark_label = ctk.CTkLabel(nav, text="", anchor="w")
        self.mark_label.grid(row=0, column=3, padx=8)
        self.example_box = ctk.CTkTextbox(card, wrap="word", font=ctk.CTkFont(family="Courier", size=11))
        self.example_box.grid(row=3, column=0, columnspan=2, sticky="nsew", padx=8)
        better_label = ctk.CTkLabel(card, text="Better answer", anchor="w")
        better_label.grid(row=4, column=0, sticky="w", padx=(12, 6), pady=4)
        Tooltip(better_label, "optional: with a better answer, a bad example becomes a DPO pair at the next "
                              "Prepare (this answer chosen, the example's own rejected) instead of only being dropped")
        self.better = ctk.CTkEntry(card)
        self.better.grid(row=4, column=1, sticky="ew", padx=(0, 8), pady=4)
        marks = ctk.CTkFrame(card, fg_color="transparent")
        marks.grid(row=5, column=0, columnspan=2, sticky="ew", padx=8, pady=(0, 4))
        self.good_button = Button(marks, text="Good", width=80, fg_color="#2d7d46",
                                         command=lambda: self.mark("good"))
        self.bad_button = Button(marks, text="Bad", width=80, fg_color="#b02a37",
                                        command=lambda: self.mark("bad"))
        self.clear_button = Button(marks, text="Clear", width=80, command=lambda: self.mark(None))
        for column, button in enumerate((self.good_button, self.bad_button, self.clear_button)):
            button.grid(row=0, column=column, padx=4)
        self.counts_label = ctk.CTkLabel(card, text="", anchor="w", justify="left", wraplength=330)
        self.counts_label.grid(row=6, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 8))

    # -- prepare ----------------------------------------------------------------------------------------------------
    def prepare_options(self) -> dict:
        numbers = {}
        for key in ("min_messages", "seed"):
            text = self.options[key].get().strip()
            if text and not text.isdigit():
                raise ValueError(f"{key.replace('_', ' ')} must be a whole number, not {text!r}")
            numbers[key] = int(text) if text else None
        return {"personas": self.options["personas"].get().strip() or "all", "strategy": self.strategy.get(),
                "split_by": self.split_by.get(), "format": self.format.get(), **numbers}

    def prepare(self) -> None:
        if self.prepare_row.running:
            return
        try:
            options = self.prepare_options()
        except ValueError as exc:
            self.banner.show(str(exc), "leave it empty to use config.toml's value")
            return
        job_id = self.run(self.actions.start_prepare, **options)
        if job_id:
            self.hosted = options["format"] if options["format"] in HOSTED else None
            self.prepare_row.track(job_id)

    def prepared(self, state: str, _event) -> None:
        if state == "finished":
            self.reload()
            if self.hosted:
                self.confirm_upload(self.hosted)
        self.hosted = None

    def confirm_upload(self, name: str) -> None:
        """The files for a hosted service are written only after Yes here, which names how many people leave."""
        text = self.run(self.actions.upload_confirmation)
        if text is None:
            return
        self.dialog = ctk.CTkToplevel(self)
        self.dialog.title("Files to upload")
        self.dialog_text = ctk.CTkLabel(self.dialog, text=f"{text}\n\nWrite the {name} files now?", justify="left",
                                        anchor="w", wraplength=520)
        self.dialog_text.grid(row=0, column=0, columnspan=2, padx=16, pady=(16, 10), sticky="w")
        self.dialog_confirm = Button(self.dialog, text="Yes, write them", command=lambda: self.upload_confirmed(name))
        self.dialog_confirm.grid(row=1, column=0, padx=16, pady=(0, 14), sticky="e")
        Button(self.dialog, text="No", command=self.close_dialog).grid(row=1, column=1, padx=16, pady=(0, 14))

    def close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.destroy()
            self.dialog = None

    def upload_confirmed(self, name: str) -> None:
        self.close_dialog()
        job_id = self.run(self.actions.start_dataset_format, name)
        if job_id:
            self.prepare_row.track(job_id)

    # -- the latest dataset -----------------------------------------------------------------------------------------
    def reload(self) -> None:
        stats = self.run(self.actions.dataset_stats)
        dark = ctk.get_appearance_mode() == "Dark"
        show_parts(self.preview, self.run(self.actions.dataset_preview) or [("No dataset yet: press Prepare.", False)],
                   dark)
        if stats:
            examples = stats.get("examples", {})
            curation = stats.get("curation") or {}
            self.summary.configure(text=f"{stats.get('created_at', '')[:16]}: {examples.get('train', 0):,} train, "
                                        f"{examples.get('val', 0):,} val, {examples.get('test', 0):,} test, "
                                        f"{stats.get('dpo', {}).get('pairs', 0):,} DPO pairs; "
                                        f"{curation.get('dropped_bad', 0)} dropped as bad")
            self.position.configure(text="indexing…")
            self.actions.in_background(INDEX_TASK, self.actions.example_index)
        self.show_counts()

    def on_task_finished(self, event) -> None:
        if event.task != INDEX_TASK:
            return
        if event.error:
            self.position.configure(text="no examples")
            return
        self.index = event.result
        names = {person.id: person.name for person in (self.run(self.actions.personas) or [])}
        self.personas = {ALL_PERSONAS: None}
        for persona_id, count in sorted(self.index.personas().items(), key=lambda item: -item[1]):
            self.personas[f"{names.get(persona_id, persona_id)} ({count})"] = persona_id
        self.persona_menu.configure(values=list(self.personas))
        self.page = 0
        self.show_page()

    # -- curation ---------------------------------------------------------------------------------------------------
    def filter_changed(self, *_args) -> None:
        self.page = 0
        self.show_page()

    def turn(self, step: int) -> None:
        self.page = max(0, self.page + step)
        self.show_page()

    def show_page(self) -> None:
        if self.index is None:
            return
        persona = self.personas.get(self.persona_menu.get())
        result = self.run(self.actions.curation_page, self.index, persona, self.page, bool(self.unmarked.get()))
        if result is None:
            return
        self.page = result["page"]
        self.current = result["items"][0] if result["items"] else None
        dark = ctk.get_appearance_mode() == "Dark"
        if self.current is None:
            self.position.configure(text="0 of 0")
            show_parts(self.example_box, [("Nothing to review with this filter.", False)], dark)
            self.mark_label.configure(text="")
            return
        self.position.configure(text=f"{self.page + 1:,} of {result['total']:,}")
        example = self.current["example"]
        names = {persona_id: label.rsplit(" (", 1)[0] for label, persona_id in self.personas.items()}
        heading = (f"{names.get(example.persona_id, example.persona_id)} · {example.meta.get('timestamp', '')[:16]} "
                   f"· message {example.message_id}\n\n")
        show_parts(self.example_box, [(heading, False), *self.current["parts"]], dark)
        mark = self.current["mark"]
        self.mark_label.configure(text=MARK_TEXT[mark.mark if mark else None])
        self.better.delete(0, "end")
        if mark is not None and mark.better_answer:
            self.better.insert(0, mark.better_answer)

    def mark(self, value: str | None) -> None:
        if self.current is None:
            return
        example = self.current["example"]
        better = self.better.get().strip() if value == "bad" else None
        self.run(self.actions.mark_example, example.message_id, example.persona_id, value, better)
        if self.failed:
            return
        self.show_counts()
        if value is not None and not self.unmarked.get():
            self.page += 1  # reviewed: on to the next one
        self.show_page()

    def show_counts(self) -> None:
        counts = self.run(self.actions.curation_counts) or {}
        if counts:
            self.counts_label.configure(text=f"{counts.get('good', 0):,} good, {counts.get('bad', 0):,} bad "
                                             f"({counts.get('better', 0):,} with a better answer). Bad ones are "
                                             f"dropped at the next Prepare.")
