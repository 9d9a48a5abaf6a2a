"""Labels whose text wraps at the width their container gives them.

CTkLabel's ``wraplength`` is a fixed number of pixels: a fixed value either clips a sentence in a narrow window
(the panel's minimum is 960 px wide) or wraps it early in a wide one. ``wrap_to`` re-fits it whenever the container
or the label is resized or moved; bind it once per label that lives as long as its container.
"""
from __future__ import annotations

import tkinter

MINIMUM = 160  # px: below this a sentence is a column of single words


def wrap_to(label, container, right: int = 12) -> None:
    """Wrap ``label`` at the room between its left edge and ``right`` px short of ``container``'s right edge."""
    def fit(_event=None) -> None:
        if not label.winfo_exists():
            return
        scaling = label._get_widget_scaling() if hasattr(label, "_get_widget_scaling") else 1.0  # CTk scales it
        room = container.winfo_width() - label.winfo_rootx() + container.winfo_rootx() - right
        width = max(MINIMUM, int(room / scaling))
        if label.cget("wraplength") != width:
            label.configure(wraplength=width)
    container.bind("<Configure>", fit, add="+")
    # the label's own frame too: it is often placed after its container's last resize, and its left edge counts
    tkinter.Misc.bind(label, "<Configure>", fit, "+")
