"""A chart: a matplotlib ``Figure`` (never pyplot, so no global state) on a FigureCanvasTkAgg inside a frame.

matplotlib is imported when the first chart is built, not at startup (cold start). ``set_line`` replaces one named
series and redraws lazily, so a live loss curve costs one redraw per pump tick at most; with ``min_redraw_ms`` a
chart redraws at most that often however fast its data comes (a GPU run logs several steps a second, and a redraw of
several panels takes tens of milliseconds of the Tk thread, hundreds on a loaded machine: a throttled chart waits
longer after a slow redraw, so redrawing never takes more than ``DRAW_BUDGET`` of the thread).
A chart has one panel (``axes``) or several side by side (``panels``: name, title, x label, y label), each of which
may get a second y axis on the right (``twin``) for a series in other units; a panel's legend lists the lines of both.
The figure follows the appearance mode (light/dark) like the CTk widgets around it: CustomTkinter calls
``_set_appearance_mode`` on every widget when the theme changes, and the chart recolours its figure then.
``note`` writes a centred line on empty axes ("no run yet"), removed by the first data drawn in that panel.
With ``relayout_every`` N the layout is recomputed on every Nth redraw only (and after a resize).
"""
from __future__ import annotations

import time

import customtkinter as ctk

DPI = 100
MAIN = "main"
DRAW_BUDGET = 0.04  # a throttled chart spends at most this share of the Tk thread redrawing
# (light, dark): the card colour around the chart, the text, the axes' frame, the grid
PALETTE = {"face": ("#ebebeb", "#2b2b2b"), "axes": ("#f7f7f7", "#333333"), "text": ("#1f1f1f", "#dce4ee"),
           "edge": ("#8a8a8a", "#8a8a8a"), "note": ("#6b6b6b", "#a0a0a0")}


class Chart(ctk.CTkFrame):
    def __init__(self, master, *, title: str = "", xlabel: str = "", ylabel: str = "", width: float = 5.0,
                 height: float = 2.6, panels=None, min_redraw_ms: int = 0, relayout_every: int = 1,
                 **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure
        self.figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        specs = list(panels) if panels else [(MAIN, title, xlabel, ylabel)]
        grid = self.figure.subplots(1, len(specs), squeeze=False)[0]
        self.panels = {spec[0]: axes for spec, axes in zip(specs, grid)}
        self._labels = {spec[0]: tuple(spec[1:4]) for spec in specs}
        self.axes = grid[0]
        self.twins: dict[str, object] = {}       # panel -> its right-hand axes
        self._twin_labels: dict[str, str] = {}
        self._notes: dict[str, object] = {}
        self.min_redraw_ms = min_redraw_ms
        self.relayout_every = max(1, relayout_every)
        self.draws = 0
        self.draw_seconds = 0.0  # how long the last measured redraw took
        self._last_draw = 0.0
        self._draw_after: str | None = None
        self.mode = "dark" if ctk.get_appearance_mode() == "Dark" else "light"
        self._apply_labels()
        self.canvas = FigureCanvasTkAgg(self.figure, master=self)
        self.canvas.get_tk_widget().grid(row=0, column=0, sticky="nsew")
        self.canvas.get_tk_widget().configure(highlightthickness=0, background=self.colour("face"))
        self.canvas.get_tk_widget().bind("<Configure>", lambda _event: self._relayout(), add="+")
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.lines: dict[str, object] = {}
        self._line_panel: dict[str, str] = {}
        self._markers: dict[str, str | None] = {}  # the marker each line asked for

    def colour(self, part: str) -> str:
        if part == "face":
            return self._surrounding() or PALETTE["face"][1 if self.mode == "dark" else 0]
        return PALETTE[part][1 if self.mode == "dark" else 0]

    def _surrounding(self) -> str | None:
        """The colour of the card the chart sits on, as #rrggbb (Tk names such as gray86 mean nothing to
        matplotlib), so the figure blends in instead of being a box."""
        try:
            name = self._apply_appearance_mode(self._bg_color)
            red, green, blue = (value // 257 for value in self.winfo_rgb(name))
        except Exception:  # noqa: BLE001 - a colour Tk cannot name: fall back to the palette
            return None
        return f"#{red:02x}{green:02x}{blue:02x}"

    def _all_axes(self) -> list:
        return [*self.panels.values(), *self.twins.values()]

    def _apply_labels(self) -> None:
        for name, axes in self.panels.items():
            title, xlabel, ylabel = self._labels[name]
            axes.set_title(title, fontsize=10)
            axes.set_xlabel(xlabel, fontsize=9)
            axes.set_ylabel(ylabel, fontsize=9)
            axes.tick_params(labelsize=8)
            if "step" in xlabel:  # steps are whole numbers: no "2.5" tick between step 2 and step 3
                from matplotlib.ticker import MaxNLocator
                axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        for name, twin in self.twins.items():
            twin.set_ylabel(self._twin_labels[name], fontsize=9)
            twin.tick_params(labelsize=8)
        self._apply_colours()

    def _apply_colours(self) -> None:
        self.figure.set_facecolor(self.colour("face"))
        text = self.colour("text")
        for axes in self._all_axes():
            if axes in self.panels.values():
                axes.set_facecolor(self.colour("axes"))
            for spine in axes.spines.values():
                spine.set_color(self.colour("edge"))
            axes.title.set_color(text)
            axes.xaxis.label.set_color(text)
            axes.yaxis.label.set_color(text)
            axes.tick_params(colors=text)
            legend = axes.get_legend()
            if legend is not None:
                legend.get_frame().set_facecolor(self.colour("axes"))
                for item in legend.get_texts():
                    item.set_color(text)
        for note in self._notes.values():
            note.set_color(self.colour("note"))

    def _set_appearance_mode(self, mode_string: str) -> None:
        super()._set_appearance_mode(mode_string)
        if not hasattr(self, "canvas"):
            return  # called while the frame itself is being built
        self.mode = "dark" if mode_string.lower() == "dark" else "light"
        self._apply_colours()
        self.canvas.get_tk_widget().configure(background=self.colour("face"))
        self.canvas.draw_idle()

    # -- drawing ----------------------------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Redraw soon: at the next idle moment, or, with ``min_redraw_ms``, once that long has passed since the
        last redraw, and never so often that redrawing takes more than ``DRAW_BUDGET`` of the Tk thread (a loaded
        machine redraws its charts less often rather than letting the window lag)."""
        if self._draw_after is not None:
            return
        wait = 0
        if self.min_redraw_ms:
            interval = max(self.min_redraw_ms / 1000, self.draw_seconds / DRAW_BUDGET)
            wait = max(0, int(1000 * (interval - (time.monotonic() - self._last_draw))))
        self._draw_after = self.after(wait, self._draw_figure)

    def _draw_figure(self) -> None:
        """Redraw now. The constrained layout (most of a redraw's cost) runs on every ``relayout_every``-th redraw
        and after a resize; in between the panels keep their places and only their contents are drawn again."""
        self._draw_after = None
        if self.relayout_every > 1:
            self.figure.set_layout_engine("constrained" if self.draws % self.relayout_every == 0 else "none")
        self.draws += 1
        if not self.min_redraw_ms:
            self._last_draw = time.monotonic()
            self.canvas.draw_idle()
            return
        started = time.perf_counter()
        self.canvas.draw()  # now, in this after() callback, so its cost can be measured
        self.draw_seconds = time.perf_counter() - started
        self._last_draw = time.monotonic()

    def draw_now(self) -> None:
        """Draw what is pending at once (a screenshot, a test), whatever the throttle says."""
        if self._draw_after is not None:
            self.after_cancel(self._draw_after)
        self._draw_figure()

    def _relayout(self) -> None:
        if self.relayout_every > 1:
            self.figure.set_layout_engine("constrained")
            self.draws = 0

    def destroy(self) -> None:
        if self._draw_after is not None:
            self.after_cancel(self._draw_after)
            self._draw_after = None
        super().destroy()

    def twin(self, panel: str, ylabel: str):
        """The panel's right-hand y axis (made on first use), for a series in other units."""
        if panel not in self.twins:
            self.twins[panel] = self.panels[panel].twinx()
            self._twin_labels[panel] = ylabel
            self._apply_labels()
            self._relayout()  # only the layout engine puts a new twin where its panel is
        return self.twins[panel]

    def note(self, text: str, panel: str | None = None) -> None:
        """A centred grey line on a panel's axes (an empty chart says why it is empty)."""
        panel = panel or next(iter(self.panels))
        self._drop_note(panel)
        axes = self.panels[panel]
        self._notes[panel] = axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center",
                                       fontsize=10, color=self.colour("note"), wrap=True)
        self.redraw()

    def note_text(self, panel: str | None = None) -> str | None:
        note = self._notes.get(panel or next(iter(self.panels)))
        return None if note is None else note.get_text()

    def _drop_note(self, panel: str) -> None:
        note = self._notes.pop(panel, None)
        if note is not None:
            note.remove()

    def set_line(self, name: str, xs, ys, *, panel: str | None = None, right: bool = False, **style) -> None:
        """Replace the series ``name`` (made on first use in ``panel``, on its right axis with ``right``; ``style``:
        matplotlib's line options such as marker, linestyle, color)."""
        panel = panel or next(iter(self.panels))
        self._drop_note(panel)
        line = self.lines.get(name)
        axes = self.twins[panel] if right else self.panels[panel]
        xs, ys = list(xs), list(ys)
        if line is None:
            (line,) = axes.plot(xs, ys, label=name, **style)
            self.lines[name], self._line_panel[name] = line, panel
            self._markers[name] = style.get("marker")
            self._legend(panel)
        else:
            line.set_data(xs, ys)
        # a line of one point draws nothing: a dot until there is a second (the first DPO step, one evaluation)
        marker = self._markers[name] or ("o" if len(xs) == 1 else "None")
        if line.get_marker() != marker:
            line.set_marker(marker)
            if self.panels[panel].get_legend() is not None:
                self._legend(panel)  # a legend copies its lines' looks when it is made
        axes.relim()
        axes.autoscale_view()
        self.redraw()

    def _legend(self, panel: str) -> None:
        handles = [line for name, line in self.lines.items() if self._line_panel[name] == panel]
        if len(handles) > 1:
            self.panels[panel].legend(handles=handles, labels=[line.get_label() for line in handles], fontsize=7)
            self._apply_colours()
            self._relayout()

    def bars(self, labels, values, *, horizontal: bool = False) -> None:
        self.clear()
        if horizontal:
            self.axes.barh(list(labels), list(values))
            self.axes.invert_yaxis()
        else:
            self.axes.bar(list(labels), list(values))
        self.canvas.draw_idle()

    def clear(self) -> None:
        for twin in self.twins.values():
            twin.remove()  # a cleared twin forgets that it is on the right: made again on first use
        self.twins.clear()
        self._twin_labels.clear()
        for axes in self.panels.values():
            axes.clear()  # removes the notes' artists too
        self._notes.clear()
        self.lines.clear()
        self._line_panel.clear()
        self._markers.clear()
        self._apply_labels()
        self._relayout()
        self.redraw()

    def drawn(self, panel: str) -> bool:
        """Whether the panel holds a line yet."""
        return panel in self._line_panel.values()

    def series(self, name: str) -> tuple[list, list]:
        """The data of one line (tests)."""
        line = self.lines[name]
        return list(line.get_xdata()), list(line.get_ydata())
