"""The Models page's runs side by side: tick two or more runs (or ctrl-click them) and press Compare; a window shows
their loss and eval-loss curves overlaid, one colour per run and the same colour in both charts, with the run ids in
the legend, over the table of what differed (``core.training.compare.rows``: the table ``runs compare`` prints).

``CompareSection`` is a mixin of ``ModelsView`` (the ticks beside the list and the Compare button under it), as
models_eval.py is. Reading the runs' metrics.jsonl may take a moment for long runs, so it runs on a thread
(``actions.in_background``); the window is built on the Tk thread when the answer arrives as ``TaskFinished``.
"""
from __future__ import annotations

import customtkinter as ctk

from core.training.compare import changed_knobs, rows
from gui.widgets.button import Button

COMPARE_TASK = "runs-compare"
WIDTH, HEIGHT = 1040, 740
MUTED = ("gray35", "gray65")
KNOB = ("#1f5fa8", "#8ab8f0")  # the label of a knob that differs between the runs
ROW_HEIGHT = 22  # px: a table row (CTkLabel's 28 spreads the rows beyond the window)
CELL_WRAP = 260  # px: a longer cell (a file name, a status) wraps instead of widening the window


class CompareDialog(ctk.CTkToplevel):
    """The comparison of ``found`` (``core.training.compare.RunFacts``, in list order)."""

    def __init__(self, master, found: list) -> None:
        super().__init__(master)
        self.title(f"{len(found)} runs side by side")
        window = master.winfo_toplevel()
        x = window.winfo_rootx() + max(0, (window.winfo_width() - WIDTH) // 2)
        self.geometry(f"{WIDTH}x{HEIGHT}+{x}+{window.winfo_rooty() + 20}")
        self.minsize(760, 520)
        self.transient(window)
        self.found = found
        self.grid_columnconfigure((0, 1), weight=1, uniform="charts")
        self.grid_rowconfigure(2, weight=1)  # the charts keep their size; a taller window gives the table more rows
        from gui.widgets.chart import Chart  # matplotlib is loaded already when the Models page drew a chart
        self.loss_chart = Chart(self, title="Training loss", xlabel="step", ylabel="loss", width=4.8, height=2.5)
        self.eval_chart = Chart(self, title="Eval loss", xlabel="step", ylabel="eval loss", width=4.8, height=2.5)
        self.loss_chart.grid(row=1, column=0, sticky="nsew", padx=(12, 4), pady=(4, 4))
        self.eval_chart.grid(row=1, column=1, sticky="nsew", padx=(4, 12), pady=(4, 4))
        ctk.CTkLabel(self, text="Curves: one colour per run, the same in both charts. Below: only the knobs that "
                                "differ are listed.", anchor="w", text_color=MUTED).grid(
            row=0, column=0, columnspan=2, sticky="ew", padx=16, pady=(10, 0))
        self.colours = self.draw_curves()
        self.table = ctk.CTkScrollableFrame(self, height=ROW_HEIGHT * 12)
        self.table.grid(row=2, column=0, columnspan=2, sticky="nsew", padx=12, pady=(4, 6))
        self.cells: dict[tuple[str, int], ctk.CTkLabel] = {}
        self.fill_table()
        Button(self, text="Close", width=90, command=self.destroy).grid(row=3, column=1, sticky="e", padx=12,
                                                                       pady=(0, 10))
        self.after(50, self.lift)

    def draw_curves(self) -> dict[str, str]:
        """Both charts, every run in the same order (a run without eval points still takes its colour there, as an
        empty line), so the colours match; returns each run's colour."""
        for facts in self.found:
            self.loss_chart.set_line(facts.run_id, [step for step, _ in facts.loss], [v for _, v in facts.loss])
            self.eval_chart.set_line(facts.run_id, [step for step, _ in facts.eval_loss],
                                     [v for _, v in facts.eval_loss])
        for chart, what in ((self.loss_chart, "loss"), (self.eval_chart, "eval loss")):
            if not any(getattr(facts, "loss" if what == "loss" else "eval_loss") for facts in self.found):
                chart.note(f"no {what} recorded in these runs")
        from matplotlib.colors import to_hex  # a line's colour may be an RGB tuple; Tk wants #rrggbb
        return {run_id: to_hex(line.get_color()) for run_id, line in self.loss_chart.lines.items()}

    def fill_table(self) -> None:
        bold = ctk.CTkFont(size=12, weight="bold")
        knobs = set(changed_knobs(self.found))
        for column, facts in enumerate(self.found, start=1):
            self.table.grid_columnconfigure(column, weight=1, uniform="runs")
            header = ctk.CTkLabel(self.table, text=facts.run_id, font=bold, anchor="w", height=ROW_HEIGHT,
                                  text_color=self.colours.get(facts.run_id))
            header.grid(row=0, column=column, sticky="w", padx=6, pady=(2, 4))
        for number, (label, cells) in enumerate(rows(self.found), start=1):
            knob = label in knobs
            ctk.CTkLabel(self.table, text=label, anchor="w", height=ROW_HEIGHT, font=bold if knob else None,
                         text_color=KNOB if knob else MUTED).grid(row=number, column=0, sticky="w", padx=(6, 12))
            for column, cell in enumerate(cells, start=1):
                value = ctk.CTkLabel(self.table, text=cell, anchor="w", justify="left", wraplength=CELL_WRAP,
                                     height=ROW_HEIGHT)
                value.grid(row=number, column=column, sticky="w", padx=6)
                self.cells[label, column - 1] = value

    def cell(self, label: str, run: int) -> str:
        """The text of one cell (tests)."""
        return self.cells[label, run].cget("text")


class CompareSection:
    """Mixed into ModelsView: a tick per run in the list, and the Compare button that opens ``CompareDialog``."""

    def _build_compare_bar(self, card, row: int) -> None:
        self.ticked: list[str] = []
        self.ticks: dict[str, ctk.CTkCheckBox] = {}
        self.compare_dialog = None
        bar = ctk.CTkFrame(card, fg_color="transparent")
        bar.grid(row=row, column=0, columnspan=2, sticky="ew", padx=8, pady=(0, 8))
        bar.grid_columnconfigure(0, weight=1)
        self.compare_hint = ctk.CTkLabel(bar, text="", anchor="w", text_color=MUTED, font=ctk.CTkFont(size=11))
        self.compare_hint.grid(row=0, column=0, sticky="w", padx=4)
        self.compare_button = Button(bar, text="Compare", width=100, command=self.compare, state="disabled")
        self.compare_button.grid(row=0, column=1, sticky="e")
        self._ticks_changed()

    def add_tick(self, run_id: str, row: int, row_button) -> None:
        """The tick box left of a run's row; ctrl-click on the row toggles it too."""
        tick = ctk.CTkCheckBox(self.listing, text="", width=24, checkbox_width=18, checkbox_height=18,
                               command=lambda: self.toggle(run_id, from_box=True))
        if run_id in self.ticked:
            tick.select()
        tick.grid(row=row, column=0, sticky="w", padx=(2, 0))
        self.ticks[run_id] = tick
        row_button.bind("<Control-Button-1>", lambda _event: self.toggle(run_id))

    def drop_ticks(self, keep: set[str]) -> None:
        for tick in self.ticks.values():
            tick.destroy()
        self.ticks.clear()
        self.ticked = [run_id for run_id in self.ticked if run_id in keep]

    def toggle(self, run_id: str, from_box: bool = False) -> None:
        tick = self.ticks.get(run_id)
        on = bool(tick.get()) if from_box and tick is not None else run_id not in self.ticked
        if tick is not None and not from_box:
            (tick.select if on else tick.deselect)()
        if on and run_id not in self.ticked:
            self.ticked.append(run_id)
        elif not on and run_id in self.ticked:
            self.ticked.remove(run_id)
        self._ticks_changed()

    def _ticks_changed(self) -> None:
        count = len(self.ticked)
        self.compare_hint.configure(text="tick two or more runs (or ctrl-click them) to compare" if count < 2
                                    else f"{count} runs ticked")
        self.compare_button.configure(state="normal" if count >= 2 else "disabled")

    def compare(self) -> None:
        order = [summary.run_id for summary in self.summaries]
        run_ids = sorted(self.ticked, key=lambda run_id: order.index(run_id) if run_id in order else len(order))
        if len(run_ids) < 2:
            return
        self.compare_button.configure(state="disabled", text="Reading…")
        self.actions.in_background(COMPARE_TASK, self.actions.compare_runs, run_ids)

    def on_task_finished(self, event) -> None:
        if event.task != COMPARE_TASK:
            return
        self.compare_button.configure(text="Compare")
        self._ticks_changed()
        if event.error:
            self.banner.show(*event.error)
            return
        if self.compare_dialog is not None and self.compare_dialog.winfo_exists():
            self.compare_dialog.destroy()
        self.compare_dialog = CompareDialog(self, event.result)
