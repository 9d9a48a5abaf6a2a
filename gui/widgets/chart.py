"""A chart: a matplotlib ``Figure`` (never pyplot, so no global state) on a FigureCanvasTkAgg inside a frame.

matplotlib is imported when the first chart is built, not at startup (cold start). ``set_line`` replaces one named
series and redraws lazily (``draw_idle``), so a live loss curve costs one redraw per pump tick at most.
The figure follows the appearance mode (light/dark) like the CTk widgets around it: CustomTkinter calls
``_set_appearance_mode`` on every widget when the theme changes, and the chart recolours its figure then.
``note`` writes a centred line on empty axes ("no run yet"), removed by the first data drawn.
"""
from __future__ import annotations

import customtkinter as ctk

DPI = 100
# (light, dark): the card colour around the chart, the text, the axes' frame, the grid
PALETTE = {"face": ("#ebebeb", "#2b2b2b"), "axes": ("#f7f7f7", "#333333"), "text": ("#1f1f1f", "#dce4ee"),
           "edge": ("#8a8a8a", "#8a8a8a"), "note": ("#6b6b6b", "#a0a0a0")}


class Chart(ctk.CTkFrame):
    def __init__(self, master, *, title: str = "", xlabel: str = "", ylabel: str = "", width: float = 5.0,
                 height: float = 2.6, **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure
        self.figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        self.axes = self.figure.add_subplot()
        self._labels = (title, xlabel, ylabel)
        self._note = None
        self.mode = "dark" if ctk.get_appearance_mode() == "Dark" else "light"
        self._apply_labels()
        self.canvas = FigureCanvasTkAgg(self.figure, master=self)
        self.canvas.get_tk_widget().grid(row=0, column=0, sticky="nsew")
        self.canvas.get_tk_widget().configure(highlightthickness=0, background=self.colour("face"))
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.lines: dict[str, object] = {}

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

    def _apply_labels(self) -> None:
        title, xlabel, ylabel = self._labels
        text = self.colour("text")
        self.axes.set_title(title, fontsize=10, color=text)
        self.axes.set_xlabel(xlabel, fontsize=9, color=text)
        self.axes.set_ylabel(ylabel, fontsize=9, color=text)
        self.axes.tick_params(labelsize=8, colors=text)
        self._apply_colours()

    def _apply_colours(self) -> None:
        self.figure.set_facecolor(self.colour("face"))
        self.axes.set_facecolor(self.colour("axes"))
        for spine in self.axes.spines.values():
            spine.set_color(self.colour("edge"))
        text = self.colour("text")
        self.axes.title.set_color(text)
        self.axes.xaxis.label.set_color(text)
        self.axes.yaxis.label.set_color(text)
        self.axes.tick_params(colors=text)
        legend = self.axes.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(self.colour("axes"))
            for item in legend.get_texts():
                item.set_color(text)
        if self._note is not None:
            self._note.set_color(self.colour("note"))

    def _set_appearance_mode(self, mode_string: str) -> None:
        super()._set_appearance_mode(mode_string)
        if not hasattr(self, "canvas"):
            return  # called while the frame itself is being built
        self.mode = "dark" if mode_string.lower() == "dark" else "light"
        self._apply_colours()
        self.canvas.get_tk_widget().configure(background=self.colour("face"))
        self.canvas.draw_idle()

    def note(self, text: str) -> None:
        """A centred grey line on the axes (an empty chart says why it is empty)."""
        self._drop_note()
        self._note = self.axes.text(0.5, 0.5, text, transform=self.axes.transAxes, ha="center", va="center",
                                    fontsize=10, color=self.colour("note"))
        self.canvas.draw_idle()

    def note_text(self) -> str | None:
        return None if self._note is None else self._note.get_text()

    def _drop_note(self) -> None:
        if self._note is not None:
            self._note.remove()
            self._note = None

    def set_line(self, name: str, xs, ys) -> None:
        self._drop_note()
        line = self.lines.get(name)
        if line is None:
            (line,) = self.axes.plot(list(xs), list(ys), label=name)
            self.lines[name] = line
            if len(self.lines) > 1:
                self.axes.legend(fontsize=8)
                self._apply_colours()
        else:
            line.set_data(list(xs), list(ys))
        self.axes.relim()
        self.axes.autoscale_view()
        self.canvas.draw_idle()

    def bars(self, labels, values, *, horizontal: bool = False) -> None:
        self.clear()
        if horizontal:
            self.axes.barh(list(labels), list(values))
            self.axes.invert_yaxis()
        else:
            self.axes.bar(list(labels), list(values))
        self.canvas.draw_idle()

    def clear(self) -> None:
        self.axes.clear()  # removes the note's artist too
        self._note = None
        self.lines.clear()
        self._apply_labels()
        self.canvas.draw_idle()

    def series(self, name: str) -> tuple[list, list]:
        """The data of one line (tests)."""
        line = self.lines[name]
        return list(line.get_xdata()), list(line.get_ydata())
