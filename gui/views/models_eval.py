"""The Models page's evaluation in words and pictures: the verdict per persona, the attribution heatmap, the
examples side by side, and the blind test's score with the button that starts it.

A mixin of ``ModelsView`` (it uses the page's ``actions``, ``run``, ``banner`` and ``selected``), as
bot_servers.py is of the Bot page. The verdicts and the grid come from ``core.evaluation.verdicts``; the examples and
the blind test from ``actions.eval_examples`` / ``blind_test`` / ``record_blind_pick`` (``gui.actions_eval``), read
on the Tk thread when a run is selected, as eval.json is (a few hundred KB at most). A stale run's replies are not
shown again: its examples and blind test say why instead.
"""
from __future__ import annotations

import customtkinter as ctk

from core.evaluation.verdicts import matrix_grid, persona_names, verdict_lines
from gui.views.models_blind import BlindTestDialog, read_only
from gui.widgets.button import Button
from gui.widgets.heatmap import Heatmap
from gui.widgets.wrap import wrap_to

MUTED = ("gray35", "gray65")
RIGHT = ("#1f7a3a", "#5ccf7e")
ELSEWHERE = ("#9a5b00", "#f0b35a")
ALL_PERSONAS = "All personas"
SOURCES = (("real", "Real"), ("tuned", "Tuned"), ("base", "Base"))
NAME_LENGTH = 12  # a longer persona name is cut in "sounds like …", which shares a line with the title
HEATMAP_CAPTION = {"tuned": "Tuned replies", "real": "Real lines", "base": "Base replies"}
BLIND_HINT = "Over real: half is indistinguishable. Over base: higher is better."


class ExamplesPane(ctk.CTkFrame):
    """The evaluated examples one at a time: the context, then the real, tuned and base replies side by side, each
    with the persona the attribution step heard in it. A persona menu filters; ‹ › page."""

    def __init__(self, master) -> None:
        super().__init__(master, fg_color="transparent")
        self.examples: list[dict] = []
        self.names: dict[str, str] = {}
        self.shown: list[dict] = []
        self.position = 0
        self.grid_columnconfigure((0, 1, 2), weight=1, uniform="replies")
        bar = ctk.CTkFrame(self, fg_color="transparent")
        bar.grid(row=0, column=0, columnspan=3, sticky="ew", pady=(0, 4))
        bar.grid_columnconfigure(4, weight=1)
        self.persona_menu = ctk.CTkOptionMenu(bar, values=[ALL_PERSONAS], width=160, command=self.pick_persona)
        self.persona_menu.grid(row=0, column=0, padx=(0, 8))
        self.previous_button = Button(bar, text="‹", width=32, command=lambda: self.step(-1))
        self.previous_button.grid(row=0, column=1)
        self.counter = ctk.CTkLabel(bar, text="", width=80)
        self.counter.grid(row=0, column=2)
        self.next_button = Button(bar, text="›", width=32, command=lambda: self.step(1))
        self.next_button.grid(row=0, column=3)
        self.speaker = ctk.CTkLabel(bar, text="", anchor="w", text_color=MUTED)
        self.speaker.grid(row=0, column=4, sticky="w", padx=(12, 0))
        self.context = ctk.CTkTextbox(self, height=58, wrap="word", font=ctk.CTkFont(size=12))
        self.context.grid(row=1, column=0, columnspan=3, sticky="ew", pady=(0, 4))
        self.boxes: dict[str, ctk.CTkTextbox] = {}
        self.attributed: dict[str, ctk.CTkLabel] = {}
        for column, (source, title) in enumerate(SOURCES):
            header = ctk.CTkFrame(self, fg_color="transparent")
            header.grid(row=2, column=column, sticky="ew", padx=2)
            ctk.CTkLabel(header, text=title, anchor="w", font=ctk.CTkFont(size=12, weight="bold")).grid(
                row=0, column=0, sticky="w")
            label = ctk.CTkLabel(header, text="", anchor="w", font=ctk.CTkFont(size=11), text_color=MUTED)
            label.grid(row=0, column=1, sticky="w", padx=(6, 0))
            box = ctk.CTkTextbox(self, height=54, wrap="word", font=ctk.CTkFont(size=12))
            box.grid(row=3, column=column, sticky="nsew", padx=2)
            self.boxes[source], self.attributed[source] = box, label
        self.grid_rowconfigure(3, weight=1)
        self.clear("Pick an evaluated run.")

    def clear(self, message: str) -> None:
        self.examples, self.shown, self.position = [], [], 0
        self.persona_menu.configure(values=[ALL_PERSONAS])
        self.persona_menu.set(ALL_PERSONAS)
        self.counter.configure(text="")
        self.speaker.configure(text="")
        read_only(self.context, message)
        for source in self.boxes:
            read_only(self.boxes[source], "")
            self.attributed[source].configure(text="")
        self._enable_paging()

    def show(self, examples: list[dict], names: dict[str, str]) -> None:
        if not examples:
            self.clear("This evaluation kept no examples to read: press Evaluate to evaluate the run again.")
            return
        self.examples, self.names = examples, names
        present = [name for persona, name in names.items() if any(e.get("persona_id") == persona for e in examples)]
        self.persona_menu.configure(values=[ALL_PERSONAS, *present])
        self.persona_menu.set(ALL_PERSONAS)
        self.pick_persona(ALL_PERSONAS)

    def pick_persona(self, name: str) -> None:
        self.persona_menu.set(name)
        self.shown = [example for example in self.examples
                      if name == ALL_PERSONAS or example.get("persona_name") == name]
        self.position = 0
        self._show_current()

    def step(self, delta: int) -> None:
        if self.shown:
            self.position = (self.position + delta) % len(self.shown)
            self._show_current()

    def _show_current(self) -> None:
        self._enable_paging()
        if not self.shown:
            return
        example = self.shown[self.position]
        self.counter.configure(text=f"{self.position + 1} of {len(self.shown)}")
        self.speaker.configure(text=f"{example.get('persona_name') or '?'} replying to:")
        read_only(self.context, "\n".join(example.get("context") or ()) or "(no earlier messages)")
        for source, box in self.boxes.items():
            text = example.get(source)
            read_only(box, "(no base model in this evaluation)" if text is None and source == "base"
                      else text or "(nothing: the bot would not have replied)")
            heard = (example.get("attributed") or {}).get(source)
            label = self.attributed[source]
            if heard is None or text is None:
                label.configure(text="")
            else:
                right = str(heard) == str(example.get("persona_id"))
                name = str(self.names.get(str(heard), heard))
                name = name if len(name) <= NAME_LENGTH else name[:NAME_LENGTH - 1].rstrip() + "…"
                label.configure(text=f"sounds like {name}" + (" ✓" if right else ""),
                                text_color=RIGHT if right else ELSEWHERE)

    def _enable_paging(self) -> None:
        state = "normal" if len(self.shown) > 1 else "disabled"
        self.previous_button.configure(state=state)
        self.next_button.configure(state=state)


class EvalSection:
    """Mixed into ModelsView: builds the report card's verdict, heatmap and blind-test parts and fills them."""

    def _build_eval(self, card) -> tuple[ctk.CTkFrame, ctk.CTkFrame]:
        """Left: the overall verdict, the verdict per persona, and a tab view with the examples and the numbers;
        right: the heatmap and the blind test under it. Returns the tabs for the page's table and perplexity
        chart."""
        left = ctk.CTkFrame(card, fg_color="transparent")
        left.grid(row=1, column=0, sticky="nsew", padx=(8, 4), pady=(0, 8))
        left.grid_columnconfigure(0, weight=1)
        left.grid_rowconfigure(2, weight=1)
        self.overall = ctk.CTkLabel(left, text="", anchor="w", justify="left", font=ctk.CTkFont(weight="bold"))
        self.overall.grid(row=0, column=0, sticky="ew", padx=4)
        wrap_to(self.overall, left)
        self.verdicts = ctk.CTkTextbox(left, height=112, wrap="word", font=ctk.CTkFont(size=12))
        self.verdicts.grid(row=1, column=0, sticky="ew", pady=2)
        tabs = ctk.CTkTabview(left, height=196)
        tabs.grid(row=2, column=0, sticky="nsew")
        self.examples = ExamplesPane(tabs.add("Examples"))
        self.examples.grid(row=0, column=0, sticky="nsew")
        numbers, perplexity = tabs.add("Numbers"), tabs.add("Perplexity")
        for tab in (tabs.tab("Examples"), numbers, perplexity):
            tab.grid_columnconfigure(0, weight=1)
            tab.grid_rowconfigure(0, weight=1)
        tabs.set("Examples")
        self.eval_tabs = tabs
        self._build_heatmap(card)
        self.blind_dialog = None
        self.eval_report_shown: dict | None = None
        return numbers, perplexity

    def _build_blind_row(self, parent) -> None:
        row = ctk.CTkFrame(parent, fg_color="transparent")
        row.grid(row=3, column=0, sticky="ew", pady=(6, 0))
        row.grid_columnconfigure(0, weight=1)
        self.blind_score = ctk.CTkLabel(row, text="", anchor="w", justify="left")
        self.blind_score.grid(row=0, column=0, sticky="w")
        self.blind_button = Button(row, text="Blind test", width=100, command=self.open_blind_test)
        self.blind_button.grid(row=0, column=1, padx=(8, 0))
        hint = ctk.CTkLabel(row, text=BLIND_HINT, anchor="w", justify="left", text_color=MUTED,
                            font=ctk.CTkFont(size=11))
        hint.grid(row=1, column=0, columnspan=2, sticky="w")
        wrap_to(hint, row)
        wrap_to(self.blind_score, row, right=120)

    def _build_heatmap(self, card) -> None:
        holder = ctk.CTkFrame(card, fg_color="transparent")
        holder.grid(row=1, column=1, sticky="nsew", padx=(4, 8), pady=(0, 8))
        holder.grid_columnconfigure(0, weight=1)
        holder.grid_rowconfigure(2, weight=1)
        self.heatmap_source = ctk.CTkSegmentedButton(holder, values=["tuned", "real", "base"],
                                                     command=lambda _value: self._draw_heatmap())
        self.heatmap_source.set("tuned")
        self.heatmap_source.grid(row=0, column=0, sticky="w")
        self.heatmap_caption = ctk.CTkLabel(holder, text="", anchor="w", font=ctk.CTkFont(size=11),
                                            text_color=MUTED, justify="left")
        self.heatmap_caption.grid(row=1, column=0, sticky="ew", pady=(2, 0))
        wrap_to(self.heatmap_caption, holder)
        self.heatmap = Heatmap(holder, height=240)
        self.heatmap.grid(row=2, column=0, sticky="nsew", pady=(4, 0))
        self._build_blind_row(holder)

    def clear_eval(self, message: str) -> None:
        self.eval_report_shown = None
        self.overall.configure(text="")
        read_only(self.verdicts, message)
        self.heatmap.note("no attribution to show")
        self.heatmap_caption.configure(text="")
        self.examples.clear(message)
        self.blind_score.configure(text="")
        self.blind_button.configure(state="disabled")

    def show_eval(self, summary, report: dict) -> None:
        self.eval_report_shown = report
        *personas, overall = verdict_lines(report)
        self.overall.configure(text=overall)
        read_only(self.verdicts, "\n".join(personas))
        self._draw_heatmap()
        if summary.stale:
            self.examples.clear(f"The replies are not shown again: {summary.stale}")
            self.blind_score.configure(text="Blind test: not available for a stale run")
            self.blind_button.configure(state="disabled")
            return
        examples = self.run(self.actions.eval_examples, summary.run_id) or []
        self.examples.show(examples, persona_names(report))
        score = self.run(self.actions.blind_score, summary.run_id)
        self.blind_score.configure(text=score or "")
        self.blind_button.configure(state="normal" if examples else "disabled")

    def _draw_heatmap(self) -> None:
        report = self.eval_report_shown
        source = self.heatmap_source.get()
        rows, columns, counts = matrix_grid(report, source) if report else ([], [], [])
        if not rows:
            self.heatmap.note(f"no attribution of {source} replies in this evaluation")
            self.heatmap_caption.configure(text="")
            return
        self.heatmap_caption.configure(text=f"{HEATMAP_CAPTION[source]}: rows are the persona they were written "
                                            f"for, columns the one they were recognised as")
        self.heatmap.show(rows, columns, counts)

    # -- the blind test ------------------------------------------------------------------------------------------
    def open_blind_test(self) -> None:
        if self.selected is None:
            return
        run_id = self.selected.run_id
        pairs = self.run(self.actions.blind_test, run_id)
        if not pairs:
            return
        if self.blind_dialog is not None and self.blind_dialog.winfo_exists():
            self.blind_dialog.destroy()
        self.blind_dialog = BlindTestDialog(self, pairs, lambda number, choice: self.blind_picked(run_id, number,
                                                                                                  choice))

    def blind_picked(self, run_id: str, number: int, choice: str) -> str | None:
        """Store one pick; None when stored, else the error line (the dialog shows it, the banner too)."""
        line = self.run(self.actions.record_blind_pick, run_id, number, choice)
        if line is None:
            return self.banner.text() or "the pick was not saved"
        if self.selected is not None and self.selected.run_id == run_id:
            self.blind_score.configure(text=line)
        return None
