"""Models: the training runs with their metrics, export/quantize with progress, evaluation with its report, "use for
the bot", and stale runs marked with the reason. The report reads in words first: a verdict per persona, a heatmap of
which persona the replies sound like, the examples side by side and a blind test (``gui.views.models_eval``); the
numbers (a table per persona and a chart of perplexity, tuned against base) are in their own tab. Ticking two or more
runs and pressing Compare shows them side by side (``gui.views.models_compare``): the curves overlaid and what
differed.

A run built from the text of someone who opted out or was forgotten is stale: it is listed with why, and export,
evaluation and "use for the bot" are refused with that reason (the actions say so; nothing runs).
"""
from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import customtkinter as ctk

from gui.views.base import PageView
from gui.views.models_compare import CompareSection
from gui.views.models_eval import EvalSection
from gui.widgets.job_row import JobRow
from gui.widgets.button import Button
from gui.widgets.tooltip import Tooltip

QUANTS = ("q4_k_m", "q8_0", "f16")
STALE_COLOURS = ("#9b1c1c", "#f19999")
SELECTED = ("gray78", "gray28")
LIST_HEIGHT = 120  # px at least; the card beside it sets the row's height (the report below needs the room)


def file_name(value) -> str:
    """A local file or folder by its name (the tooltip has the whole path: a long one wrapped the Selected run card
    down over the reply boxes); a hub id such as ``org/model`` stays whole."""
    text = str(value or "")
    for flavour in (PurePosixPath, PureWindowsPath):
        if flavour(text).is_absolute():
            return flavour(text).name
    return text


def metric(report: dict, *path, digits: int = 3) -> str:
    """A nested number of an eval report as text, "—" where absent."""
    value = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return "—" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def report_table(report: dict) -> str:
    """The per-persona table of an eval.json, fixed-width."""
    header = f"{'persona':<15}{'examples':>9}{'ppl tuned':>10}{'ppl base':>9}{'style':>7}{'length':>7}" \
             f"{'asst-speak':>11}{'copied':>7}"
    lines = [header, "-" * len(header)]
    rows = [*report.get("personas", {}).values(), report.get("overall", {})]
    for row in rows:
        if not row:
            continue
        lines.append(f"{str(row.get('name', '?'))[:14]:<15}{metric(row, 'examples'):>9}"
                     f"{metric(row, 'perplexity', 'tuned', digits=2):>10}"
                     f"{metric(row, 'perplexity', 'base', digits=2):>9}"
                     f"{metric(row, 'tuned', 'style_similarity', 'paired_mean', digits=2):>7}"
                     f"{metric(row, 'tuned', 'length', 'median_ratio', digits=2):>7}"
                     f"{metric(row, 'tuned', 'assistant_speak', 'rate', digits=2):>11}"
                     f"{metric(row, 'tuned', 'regurgitation', 'rate', digits=2):>7}")
    lines.append("\nstyle: similarity of the tuned replies to the real ones (1 = same)\n"
                 "length: median words of the tuned replies over the real ones' (1 = same)\n"
                 "asst-speak: share of replies that sound like an assistant\ncopied: share that repeat a training reply")
    return "\n".join(lines)


class ModelsView(CompareSection, EvalSection, PageView):
    TITLE = "Models"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(3, weight=1)
        self.summaries: list = []
        self.selected = None
        self.rows: dict[str, ctk.CTkButton] = {}
        self.chart = None
        top = ctk.CTkFrame(self, fg_color="transparent")
        top.grid(row=2, column=0, sticky="ew", padx=4)
        top.grid_columnconfigure(0, weight=1, uniform="top")
        top.grid_columnconfigure(1, weight=1, uniform="top")
        self.top = top
        self._build_runs()
        self._build_actions()
        self._build_report()
        self.refresh()

    def _build_runs(self) -> None:
        card = self.card(0, "Runs", parent=self.top)
        card.grid_configure(padx=(12, 6))
        self.listing = ctk.CTkScrollableFrame(card, height=LIST_HEIGHT)
        self.listing._scrollbar.configure(height=LIST_HEIGHT)  # else CTkScrollbar keeps the list 200 px tall
        self.listing.grid(row=1, column=0, columnspan=2, sticky="nsew", padx=8, pady=(0, 8))
        card.grid_rowconfigure(1, weight=1)  # as tall as the Selected run card beside it
        self.listing.grid_columnconfigure(1, weight=1)  # column 0: the compare ticks
        self._build_compare_bar(card, row=2)

    def _build_actions(self) -> None:
        card = self.card(0, "Selected run", column=1, parent=self.top)
        card.grid_configure(padx=(6, 12))
        self.details = ctk.CTkLabel(card, text="Pick a run in the list.", anchor="w", justify="left",
                                    wraplength=330)
        self.details.grid(row=1, column=0, columnspan=3, sticky="w", padx=12, pady=(0, 4))
        self.details_tip = Tooltip(self.details, "")  # the full paths, which the card shows as file names
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=2, column=0, columnspan=3, sticky="w", padx=12, pady=3)
        self.quant = ctk.CTkOptionMenu(buttons, values=list(QUANTS), width=100)
        self.quant.grid(row=0, column=0, padx=(0, 8))
        self.export_button = Button(buttons, text="Export", width=80, command=self.export)
        self.export_button.grid(row=0, column=1, padx=(0, 8))
        self.eval_button = Button(buttons, text="Evaluate", width=80, command=self.evaluate)
        self.eval_button.grid(row=0, column=2, padx=(0, 8))
        self.use_button = Button(buttons, text="Use for the bot", width=120, command=self.use_for_bot)
        self.use_button.grid(row=1, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.job_row = JobRow(card, "Job", self.actions.stop_job, on_end=self.job_ended)
        self.job_rows = (self.job_row,)
        self.job_row.grid(row=4, column=0, columnspan=3, sticky="ew", padx=12, pady=(4, 8))
        self._enable(False)

    def _build_report(self) -> None:
        card = self.card(3, "Evaluation report")
        card.grid_columnconfigure(0, weight=3, uniform="report")
        card.grid_columnconfigure(1, weight=2, uniform="report")
        card.grid_rowconfigure(1, weight=1)
        numbers, perplexity = self._build_eval(card)
        self.report_box = ctk.CTkTextbox(numbers, wrap="none", font=ctk.CTkFont(family="Courier", size=10))
        self.report_box.grid(row=0, column=0, sticky="nsew")
        self.chart_holder = ctk.CTkFrame(perplexity, fg_color="transparent")
        self.chart_holder.grid(row=0, column=0, sticky="nsew")
        self.chart_holder.grid_columnconfigure(0, weight=1)
        self.chart_holder.grid_rowconfigure(0, weight=1)
        self.set_report_text("Pick a run; an evaluated run shows its report here.")
        self.clear_eval("Pick a run; an evaluated run shows its verdicts here.")

    def _enable(self, enabled: bool) -> None:
        for button in (self.export_button, self.eval_button, self.use_button):
            button.configure(state="normal" if enabled else "disabled")

    # -- the list ---------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.summaries = list(self.run(self.actions.run_summaries) or [])
        bot_model = self.run(self.actions.bot_model) or ""
        for row in self.rows.values():
            row.destroy()
        self.rows.clear()
        self.drop_ticks({summary.run_id for summary in self.summaries})
        if not self.summaries:
            empty = ctk.CTkLabel(self.listing, text="No runs yet: start one on the Training page.", anchor="w")
            empty.grid(row=0, column=0, columnspan=2, sticky="w")
            self.rows[""] = empty
        for number, summary in enumerate(self.summaries):
            row = Button(self.listing, text=self.describe(summary, bot_model), anchor="w",
                                fg_color="transparent", hover_color=("gray80", "gray30"),
                                text_color=STALE_COLOURS if summary.stale else ("gray10", "gray90"),
                                command=lambda run_id=summary.run_id: self.select(run_id))
            label = getattr(row, "_text_label", None)  # two lines: left-aligned like a list, not centred
            if label is not None:
                label.configure(justify="left")
            row.grid(row=number, column=1, sticky="ew", pady=1)
            self.rows[summary.run_id] = row
            self.add_tick(summary.run_id, number, row)
        self._ticks_changed()
        if self.selected is not None:
            self.select(self.selected.run_id)

    @staticmethod
    def describe(summary, bot_model: str = "") -> str:
        steps = f"step {summary.step}/{summary.total_steps}" if summary.step is not None else "no steps"
        loss = f" · loss {summary.final_loss:.3f}" if summary.final_loss is not None else ""
        exported = " · exported" if summary.gguf else ""
        evaluated = " · evaluated" if summary.eval_file else ""
        used = " · used by the bot" if summary.gguf and bot_model and str(summary.gguf) == bot_model else ""
        stale = " · STALE" if summary.stale else ""
        return f"{summary.run_id} · {summary.status}\n{steps}{loss}{exported}{evaluated}{used}{stale}"

    def show_run(self, run_id: str) -> None:
        """Select ``run_id`` after reading the list again (a tray notice opened it: the run may be new)."""
        self.refresh()
        self.select(run_id)

    def select(self, run_id: str) -> None:
        summary = next((s for s in self.summaries if s.run_id == run_id), None)
        self.selected = summary
        for key, row in self.rows.items():
            if isinstance(row, ctk.CTkButton):
                row.configure(fg_color=SELECTED if key == run_id else "transparent")
        self._enable(summary is not None and not self.job_row.running)
        if summary is None:
            return
        lines = [f"{summary.run_id} ({summary.status})", f"base: {file_name(summary.base_model) or '?'}",
                 f"model: {file_name(summary.gguf)}" if summary.gguf else "not exported yet"]
        self.details_tip.text = "\n".join(f"{label}: {value}" for label, value in
                                          (("base", summary.base_model), ("model", summary.gguf)) if value)
        if getattr(summary, "failure", None):
            lines.append(f"failed: {summary.failure}")
        if summary.stale:
            lines.append(f"stale: {summary.stale}")
        self.details.configure(text="\n".join(lines), text_color=STALE_COLOURS if summary.stale
                               else ("gray10", "gray90"))
        self.show_report(summary)

    # -- export, evaluate, use --------------------------------------------------------------------------------------
    def export(self) -> None:
        if self.selected is not None:
            self.track(self.run(self.actions.start_export, self.selected.run_id, self.quant.get()))

    def evaluate(self) -> None:
        if self.selected is not None:
            self.track(self.run(self.actions.start_eval, self.selected.run_id))

    def track(self, job_id: str | None) -> None:
        if job_id:
            self.job_row.track(job_id)
            self._enable(False)

    def use_for_bot(self) -> None:
        if self.selected is None:
            return
        path = self.run(self.actions.use_for_bot, self.selected.run_id)
        if path is not None:
            self.banner.show(f"the bot now uses {path.name}", "a running bot loads it at once", kind="ok")
            self.refresh()

    def job_ended(self, _state: str, _event) -> None:
        self.refresh()
        self._enable(self.selected is not None)

    # -- the report -------------------------------------------------------------------------------------------------
    def set_report_text(self, text: str) -> None:
        self.report_box.configure(state="normal")
        self.report_box.delete("1.0", "end")
        self.report_box.insert("1.0", text)
        self.report_box.configure(state="disabled")

    def show_report(self, summary) -> None:
        report = self.run(self.actions.eval_report, summary.run_id) if summary.eval_file else None
        if not report:
            self.set_report_text("Not evaluated yet: press Evaluate (it needs an exported model).")
            self.clear_eval("Not evaluated yet: press Evaluate (it needs an exported model).")
            if self.chart is not None:
                self.chart.clear()
            return
        self.set_report_text(report_table(report))
        self.show_eval(summary, report)
        personas = list(report.get("personas", {}).values())
        if self.chart is None:
            from gui.widgets.chart import Chart  # matplotlib loads with the first chart
            self.chart = Chart(self.chart_holder, title="Perplexity (lower is better)", width=4.5, height=1.9)
            self.chart.grid(row=0, column=0, sticky="nsew")
        self.chart.clear()
        axes, positions = self.chart.axes, range(len(personas))
        tuned = [p.get("perplexity", {}).get("tuned") or 0 for p in personas]
        base = [p.get("perplexity", {}).get("base") or 0 for p in personas]
        axes.bar([x - 0.2 for x in positions], tuned, width=0.4, label="tuned")
        if any(base):
            axes.bar([x + 0.2 for x in positions], base, width=0.4, label="base")
        axes.set_xticks(list(positions), [str(p.get("name", "?"))[:10] for p in personas], fontsize=7)
        axes.legend(fontsize=8)
        self.chart.canvas.draw_idle()
