"""A bounded log view: a read-only text box that keeps the last ``max_lines`` lines and inserts in batches.

``append`` only buffers; one flush per ``FLUSH_MS`` inserts everything buffered with a single Text insert and trims
the oldest lines, so a worker printing thousands of lines a second costs a few Tk calls per tick, and a million lines
cost the memory of ``max_lines``. The buffer itself is bounded too (lines that would be trimmed at once are dropped
before they reach Tk). An empty view shows a grey ``placeholder`` line (what will appear here) inside a visible
border, so an idle log reads as a log and not as a blank box; the first real line replaces it.
"""
from __future__ import annotations

import collections

import customtkinter as ctk

MAX_LINES = 5_000   # enough to scroll back through a training run's recent past; Text slows past ~100k lines
FLUSH_MS = 80       # one insert per ~frame-and-a-bit
FOLLOW_SLACK_LINES = 2  # this close to the end the view still follows new lines (a user reading scrolls further)


class LogView(ctk.CTkFrame):
    def __init__(self, master, *, max_lines: int = MAX_LINES, height: int = 200, placeholder: str = "",
                 **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.max_lines = max_lines
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.text = ctk.CTkTextbox(self, height=height, wrap="none", font=ctk.CTkFont(family="Courier", size=12),
                                   border_width=1, border_color=("gray62", "gray38"))
        self.text.grid(row=0, column=0, sticky="nsew")
        self.text._textbox.tag_configure("placeholder", foreground="gray50")
        self.text.configure(state="disabled")
        self.placeholder = placeholder
        self._showing_placeholder = False
        self._pending: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._lines = 0          # lines currently in the Text widget
        self._flush_id: str | None = None
        self.received = 0        # lines ever appended (the benchmark and tests read it)
        self._show_placeholder()

    def _show_placeholder(self) -> None:
        if not self.placeholder:
            return
        widget = self.text._textbox
        widget.configure(state="normal")
        widget.insert("1.0", self.placeholder, ("placeholder",))
        widget.configure(state="disabled")
        self._showing_placeholder = True

    def placeholder_shown(self) -> bool:
        return self._showing_placeholder

    def append(self, line: str) -> None:
        """Queue one line (no newline); it appears at the next flush."""
        self._pending.append(line.rstrip("\n"))
        self.received += 1
        if self._flush_id is None:
            self._flush_id = self.after(FLUSH_MS, self.flush)

    def extend(self, lines) -> None:
        for line in lines:
            self.append(line)

    def flush(self) -> None:
        """Insert what is buffered now and trim to ``max_lines``."""
        self._flush_id = None
        if not self._pending:
            return
        lines = list(self._pending)
        self._pending.clear()
        widget = self.text._textbox  # the underlying tk.Text: CTkTextbox forwards, but one hop less per call
        # at the tail, give or take a line or two: the horizontal scrollbar a long line brings takes a line's height
        # after the view was moved to the end, and the view must keep following all the same
        at_end = (1.0 - widget.yview()[1]) * max(self._lines, 1) <= FOLLOW_SLACK_LINES
        widget.configure(state="normal")
        if self._showing_placeholder:
            widget.delete("1.0", "end")
            self._showing_placeholder = False
        widget.insert("end", "".join(line + "\n" for line in lines))
        self._lines += len(lines)
        excess = self._lines - self.max_lines
        if excess > 0:
            widget.delete("1.0", f"{excess + 1}.0")
            self._lines -= excess
        widget.configure(state="disabled")
        if at_end:
            widget.see("end")  # follow the tail unless the user scrolled up to read

    def clear(self) -> None:
        self._pending.clear()
        widget = self.text._textbox
        widget.configure(state="normal")
        widget.delete("1.0", "end")
        widget.configure(state="disabled")
        self._lines = 0
        self._showing_placeholder = False
        self._show_placeholder()

    def line_count(self) -> int:
        """Lines held in the widget (after a flush); the placeholder is not a line."""
        if self._showing_placeholder:
            return 0
        return int(self.text._textbox.index("end-1c").split(".")[0]) - 1

    def get_text(self) -> str:
        if self._showing_placeholder:
            return ""
        text = self.text._textbox.get("1.0", "end-1c")
        return text[:-1] if text.endswith("\n") else text  # each line ends with one; the last needs none

    def destroy(self) -> None:
        if self._flush_id is not None:
            self.after_cancel(self._flush_id)
            self._flush_id = None
        super().destroy()
