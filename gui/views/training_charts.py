"""The Training page's charts, side by side in one figure: the SFT loss by step (with the eval loss as points, only
once there is one), the DPO pass on its own steps with its reward margin, and tokens per second with the worker's
memory (VRAM on a GPU, RSS on the CPU) over the run's minutes. A mixin of ``TrainingView``: it draws recorded and
live events alike (``chart_event``), so a reopened page redraws a run from metrics.jsonl, older runs included (their
steps carry the stage in ``message``). The figure redraws at most every ``REDRAW_MS``: a fast GPU run logs several
steps a second, and the Tk thread must stay free for the log.
"""
from __future__ import annotations

PANELS = (("loss", "Loss", "step", "loss"), ("dpo", "DPO", "DPO step", "loss"),
          ("speed", "Speed and memory", "minutes", "tokens/s"))
REDRAW_MS = 400
RELAYOUT_EVERY = 8  # the layout (labels' room) is redone every 8th redraw: a redraw without it costs ~40% as much
LEFT, RIGHT, EVAL = "C0", "C3", "C1"  # a panel's left and right series, the eval points
NO_DPO_YET = "the DPO pass runs after SFT"


class LiveCharts:
    def _build_charts(self, holder) -> None:
        from gui.widgets.chart import Chart  # matplotlib loads with this page, not at startup
        self.curves: dict[str, dict[float, float]] = {}
        self._run_start: float | None = None
        self.chart = Chart(holder, panels=PANELS, width=9.4, height=2.25, min_redraw_ms=REDRAW_MS,
                           relayout_every=RELAYOUT_EVERY)
        self.chart.grid(row=0, column=0, sticky="nsew")
        self.reset_charts("no run yet")

    def reset_charts(self, note: str) -> None:
        self.curves.clear()
        self._run_start = None
        self.chart.clear()
        for panel in ("loss", "speed"):
            self.chart.note(note, panel)
        self.chart.note(note if note == "no run yet" else NO_DPO_YET, "dpo")

    def chart_event(self, event) -> None:
        """Draw what ``event`` adds to the charts (a recorded or a live one)."""
        kind = type(event).__name__
        if kind == "JobStarted" and "dpo_steps" in event.details and not self.chart.drawn("dpo"):
            self.chart.note(NO_DPO_YET if event.details["dpo_steps"] else "no DPO pass in this run", "dpo")
        elif kind == "ProgressReported" and not event.is_phase:
            self._progress_points(event)
        elif kind == "EvalReported" and event.eval_loss is not None:
            self.add_point("eval loss", event.step, event.eval_loss, marker="o", linestyle="--", color=EVAL)
        elif kind == "PhaseFinished" and event.phase == "dpo" and event.details.get("skipped"):
            self.chart.note(f"DPO skipped: {event.details['skipped']}", "dpo")

    def _progress_points(self, event) -> None:
        stage = event.stage or "sft"  # a worker without stages (and the oldest runs): its steps are the loss curve
        if stage == "dpo":
            if event.loss is not None:
                self.add_point("DPO loss", event.step, event.loss, panel="dpo", color=LEFT)
            if event.reward_margin is not None:
                self.add_point("reward margin", event.step, event.reward_margin, panel="dpo", right="margin",
                               color=RIGHT)
        elif stage == "sft" and event.loss is not None:
            self.add_point("loss", event.step, event.loss, color=LEFT)
        if stage not in ("sft", "dpo"):
            return
        if self._run_start is None:
            self._run_start = event.time - (event.elapsed or 0.0)
        minutes = round((event.time - self._run_start) / 60, 3)
        if event.tokens_per_second:
            self.add_point("tokens/s", minutes, event.tokens_per_second, panel="speed", color=LEFT)
        if event.vram_used is not None:
            self.add_point("VRAM GiB", minutes, event.vram_used, panel="speed", right="GiB", color=RIGHT)
        elif event.rss is not None:
            self.add_point("RAM GiB", minutes, event.rss, panel="speed", right="GiB", color=RIGHT)

    def add_point(self, line: str, x: float, value: float, *, panel: str = "loss", right: str = "",
                  **style) -> None:
        """One point of a series (a step redone after a resume replaces its point); ``right`` names the panel's
        right-hand axis when the series goes there."""
        points = self.curves.setdefault(line, {})
        points[x] = value
        if right:
            self.chart.twin(panel, right)
        xs = sorted(points)
        self.chart.set_line(line, xs, [points[key] for key in xs], panel=panel, right=bool(right), **style)
