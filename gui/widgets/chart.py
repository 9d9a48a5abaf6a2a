"""A chart: a matplotlib ``Figure`` (never pyplot, so no global state) on a FigureCanvasTkAgg inside a frame.

matplotlib is imported when the first chart is built, not at startup (cold start). ``set_line`` replaces one named
series and redraws lazily (``draw_idle``), so a live loss curve costs one redraw per pump tick at most.
"""
from __future__ import annotations

import customtkinter as ctk

DPI = 100


class Chart(ctk.CTkFrame):
    def __init__(self, master, *, title: str = "", xlabel: str = "", ylabel: str = "", width: float = 5.0,
                 height: float = 2.6, **kwargs) -> None:
        super().__init__(master, **kwargs)
        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure
        self.figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        self.axes = self.figure.add_subplot()
        self._labels = (title, xlabel, ylabel)
        self._apply_labels()
        self.canvas = FigureCanvasTkAgg(self.figure, master=self)
        self.canvas.get_tk_widget().grid(row=0, column=0, sticky="nsew")
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.lines: dict[str, object] = {}

    def _apply_labels(self) -> None:
        title, xlabel, ylabel = self._labels
        self.axes.set_title(title, fontsize=10)
        self.axes.set_xlabel(xlabel, fontsize=9)
        self.axes.set_ylabel(ylabel, fontsize=9)
        self.axes.tick_params(labelsize=8)

    def set_line(self, name: str, xs, ys) -> None:
        line = self.lines.get(name)
        if line is None:
            (line,) = self.axes.plot(list(xs), list(ys), label=name)
            self.lines[name] = line
            if len(self.lines) > 1:
                self.axes.legend(fontsize=8)
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
        self.axes.clear()
        self.lines.clear()
        self._apply_labels()
        self.canvas.draw_idle()

    def series(self, name: str) -> tuple[list, list]:
        """The data of one line (tests)."""
        line = self.lines[name]
        return list(line.get_xdata()), list(line.get_ydata())
