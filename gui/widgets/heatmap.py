"""A heatmap of counts on a Tk canvas: a grid of cells shaded by count with the number in each, row labels on the
left and column labels above (slanted, so long names fit over narrow columns; when the cells get too narrow even for
that, the columns are numbered and each row label carries its column's number).

No matplotlib: a few dozen rectangles and texts draw in microseconds and follow the window's size and appearance mode
(CustomTkinter calls ``_set_appearance_mode`` on every widget when the theme changes; the map redraws then, and on
every resize). Cells on the diagonal (row label == column label) get an outline: on a confusion matrix they are the
right answers. ``note`` shows one centred grey line instead of a grid ("no attribution in this evaluation").
"""
from __future__ import annotations

import math
import tkinter
import tkinter.font

import customtkinter as ctk

SLANT = 45                 # degrees of the column labels
MAX_CELL = 44              # px: a 2x2 map stays a small square
MIN_CELL = 15              # px: below 20 the numbers and row labels use the small font
PAD = 6
ROOM = 8                   # px between neighbouring slanted labels, below which the columns are numbered instead
# (light, dark)
EMPTY = ("#f4f6f8", "#303338")
FULL = ("#1f5f99", "#4a9ee8")
TEXT = ("#1f1f1f", "#e4e8ee")
MUTED = ("#8a8f96", "#80868e")
RIGHT = ("#2e7d32", "#7bd88a")
GRID = ("#c9ced4", "#44484e")


def mix(low: str, high: str, share: float) -> str:
    """The colour ``share`` (0..1) of the way from ``low`` to ``high`` (#rrggbb)."""
    a = [int(low[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b))


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    red, green, blue = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable_on(fill: str) -> str:
    """Black or white text, whichever contrasts more with ``fill`` (at least 4.58:1 on any fill)."""
    return max(("#000000", "#ffffff"), key=lambda text: contrast(text, fill))


class Heatmap(ctk.CTkFrame):
    def __init__(self, master, *, height: int = 200, **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.canvas = tkinter.Canvas(self, height=height, width=240, highlightthickness=0, borderwidth=0)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        family = ctk.CTkFont().cget("family")
        self.font = tkinter.font.Font(self, family=family, size=11)
        self.small_font = tkinter.font.Font(self, family=family, size=9)
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.counts: list[list[int]] = []
        self.message = "nothing to show yet"
        self.cells: dict[tuple[int, int], tuple[int, int]] = {}   # (row, column) -> (rectangle id, text id)
        self.canvas.bind("<Configure>", lambda _event: self.redraw(), add="+")
        self.redraw()

    def colour(self, pair: tuple[str, str]) -> str:
        return pair[1] if ctk.get_appearance_mode() == "Dark" else pair[0]

    def show(self, rows: list[str], columns: list[str], counts: list[list[int]]) -> None:
        """``counts[row][column]``; rows and columns are the labels shown."""
        self.rows, self.columns, self.counts = list(rows), list(columns), [list(row) for row in counts]
        self.message = ""
        self.redraw()

    def note(self, text: str) -> None:
        self.rows, self.columns, self.counts, self.message = [], [], [], text
        self.redraw()

    def _set_appearance_mode(self, mode_string: str) -> None:
        super()._set_appearance_mode(mode_string)
        if hasattr(self, "canvas"):
            self.redraw()

    def redraw(self) -> None:
        canvas = self.canvas
        canvas.delete("all")
        self.cells.clear()
        try:
            canvas.configure(background=self._apply_appearance_mode(self._bg_color))
        except tkinter.TclError:
            pass
        width, height = max(canvas.winfo_width(), 60), max(canvas.winfo_height(), 40)
        if not self.rows or not self.columns:
            canvas.create_text(width / 2, height / 2, text=self.message, fill=self.colour(MUTED), font=self.font,
                               width=max(width - 2 * PAD, 40), tags=("note",))
            return
        self._draw_grid(width, height)

    def _layout(self, rows: list[str], columns: list[str], slant: float, width: int,
                height: int) -> tuple[float, float, float]:
        """(left, top, cell): the row labels' width, the column labels' height, the cell size."""
        left = max(self.font.measure(label) for label in rows) + 2 * PAD
        longest = max(self.font.measure(label) for label in columns)
        angle = math.radians(slant)
        top = longest * math.sin(angle) + self.font.metrics("ascent") * (0.6 if slant else 1.0) + 2 * PAD
        right = longest * math.cos(angle) if slant else 0
        cell = min((width - left - right - PAD) / len(columns), (height - top - PAD) / len(rows), MAX_CELL)
        return left, top, max(cell, MIN_CELL)

    def labels(self, width: int, height: int) -> tuple[list[str], list[str], float, tuple[float, float, float]]:
        """The labels drawn, their slant and the layout: names, or numbers when slanted names would overlap."""
        layout = self._layout(self.rows, self.columns, SLANT, width, height)
        if layout[2] * math.sin(math.radians(SLANT)) >= self.font.metrics("ascent") + ROOM:
            return self.rows, self.columns, SLANT, layout
        columns = [str(number) for number in range(1, len(self.columns) + 1)]
        rows = [f"{label} ({self.columns.index(label) + 1})" if label in self.columns else label
                for label in self.rows]
        return rows, columns, 0, self._layout(rows, columns, 0, width, height)

    def _draw_grid(self, width: int, height: int) -> None:
        canvas = self.canvas
        rows, columns, slant, (left, top, cell) = self.labels(width, height)
        font = self.font if cell >= 20 else self.small_font
        peak = max((count for row in self.counts for count in row), default=0) or 1
        empty, full = self.colour(EMPTY), self.colour(FULL)
        for row, label in enumerate(rows):
            canvas.create_text(left - PAD, top + (row + 0.5) * cell, text=label, anchor="e", font=font,
                               fill=self.colour(TEXT), tags=("row-label",))
        for column, label in enumerate(columns):
            canvas.create_text(left + (column + 0.5) * cell, top - PAD, text=label, anchor="w" if slant else "s",
                               angle=slant, font=self.font, fill=self.colour(TEXT), tags=("column-label",))
        for row in range(len(self.rows)):
            for column in range(len(self.columns)):
                count = self.counts[row][column]
                fill = mix(empty, full, count / peak)
                x, y = left + column * cell, top + row * cell
                rectangle = canvas.create_rectangle(x, y, x + cell, y + cell, fill=fill, outline=self.colour(GRID),
                                                    tags=(f"cell-{row}-{column}",))
                text = canvas.create_text(x + cell / 2, y + cell / 2, text=str(count), font=font,
                                          fill=readable_on(fill) if count else self.colour(MUTED))
                self.cells[(row, column)] = (rectangle, text)
        for row, label in enumerate(self.rows):  # outlines last, so no neighbour's edge covers them
            if label in self.columns:
                column = self.columns.index(label)
                x, y = left + column * cell, top + row * cell
                canvas.create_rectangle(x + 1, y + 1, x + cell - 1, y + cell - 1, outline=self.colour(RIGHT),
                                        width=2, tags=("right",))

    # -- what the map shows (tests) --------------------------------------------------------------------------------
    def cell_text(self, row: int, column: int) -> str:
        return self.canvas.itemcget(self.cells[(row, column)][1], "text")

    def cell_fill(self, row: int, column: int) -> str:
        return self.canvas.itemcget(self.cells[(row, column)][0], "fill")

    def label_texts(self, tag: str) -> list[str]:
        """The drawn texts of "row-label" or "column-label" items, in drawing order."""
        return [self.canvas.itemcget(item, "text") for item in self.canvas.find_withtag(tag)]

    def note_text(self) -> str | None:
        found = self.canvas.find_withtag("note")
        return self.canvas.itemcget(found[0], "text") if found else None
