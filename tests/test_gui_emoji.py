"""Emoji in the Dataset page's preview and curation views (``gui.widgets.emoji``): runs of emoji are tagged with the
emoji font, picked per platform and per libXft (colour only where Xft draws colour glyphs), on the prepared sample
server (547 of its messages have emoji); and, where Noto Color Emoji is installed (.ci/run installs it), an emoji is
really drawn in colour instead of a box."""
from __future__ import annotations

import os
import time
import tkinter
import tkinter.font

import pytest

from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from gui.actions import Actions
from gui.widgets import emoji
from gui.widgets.emoji import COLOUR_XFT, EMOJI_TAG, is_emoji, pick_family, split_emoji
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.run_folders import prepare_sample


def test_split_emoji_keeps_each_sequence_in_one_run():
    family, heart = "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\u2764\uFE0F"
    assert split_emoji(f"lol 😂🎉 ok {heart} {family}!") == [
        ("lol ", False), ("😂🎉", True), (" ok ", False), (heart, True), (" ", False), (family, True), ("!", False)]
    assert split_emoji("plain") == [("plain", False)] and split_emoji("") == []
    assert split_emoji("\u200Da") == [("\u200Da", False)]  # a joiner alone is not an emoji
    assert is_emoji("🇫") and is_emoji("⭐") and not is_emoji("é")


@pytest.mark.parametrize("platform, families, xft, expected", [
    ("linux", ["DejaVu Sans", "Noto Color Emoji", "Symbola"], 20306, "Noto Color Emoji"),
    ("linux", ["DejaVu Sans", "Noto Color Emoji", "Symbola"], 20304, "Symbola"),   # old Xft: no colour glyphs
    ("linux", ["DejaVu Sans", "Noto Color Emoji"], 20304, None),
    ("linux", ["DejaVu Sans", "noto emoji"], None, "noto emoji"),
    ("linux", ["DejaVu Sans"], 20306, None),
    ("win32", ["Segoe UI", "Segoe UI Emoji"], None, "Segoe UI Emoji"),
    ("darwin", ["Helvetica", "Apple Color Emoji"], None, "Apple Color Emoji"),
])
def test_the_emoji_font_is_picked_per_platform_and_xft(platform, families, xft, expected):
    assert pick_family(platform, families, xft) == expected


def emoji_text(widget) -> tuple[str, str]:
    """(every emoji character in the widget, every character under the emoji tag)."""
    text = widget.get("1.0", "end")
    ranges = widget.tag_ranges(EMOJI_TAG)
    tagged = "".join(widget.get(start, end) for start, end in zip(ranges[::2], ranges[1::2]))
    return "".join(character for character in text if is_emoji(character)), tagged


def test_preview_and_curation_draw_the_sample_servers_emoji_with_the_emoji_font(tk_root, tmp_path, monkeypatch):
    from gui.views.dataset import INDEX_TASK, DatasetView
    monkeypatch.setitem(emoji._cache, "family", "Noto Color Emoji")  # the tags do not need the font installed
    workspace = Workspace.open(tmp_path / "ws")
    prepare_sample(workspace)
    bus = EventBus()
    subscription = bus.subscribe("panel")
    view = DatasetView(tk_root, Actions(workspace, bus), bus)
    view.grid(row=0, column=0, sticky="nsew")
    preview = view.preview._textbox
    found, tagged = emoji_text(preview)
    assert found and "".join(character for character in tagged if is_emoji(character)) == found
    assert preview.tag_cget(EMOJI_TAG, "font").startswith("{Noto Color Emoji}")
    deadline = time.monotonic() + 30
    while view.index is None:
        assert time.monotonic() < deadline, "the example index never arrived"
        pump(tk_root, subscription, [view], rounds=1)
    for _ in range(60):  # page on to an example with an emoji
        found, tagged = emoji_text(view.example_box._textbox)
        if found:
            break
        view.turn(1)
    assert found and "".join(character for character in tagged if is_emoji(character)) == found
    assert INDEX_TASK == "curation-index"


def test_an_emoji_is_drawn_in_colour_where_noto_color_emoji_is_installed(tk_root):
    from PIL import ImageGrab
    families = set(tkinter.font.families(tk_root))
    if "Noto Color Emoji" not in families or (emoji.xft_version() or 0) < COLOUR_XFT:
        pytest.skip("needs Noto Color Emoji (apt install fonts-noto-color-emoji) and libXft 2.3.5 or newer")
    emoji._cache.pop("family", None)
    text = tkinter.Text(tk_root, font=("DejaVu Sans Mono", -40), width=8, height=1, background="white",
                        highlightthickness=0, borderwidth=0)
    text.place(x=0, y=0)
    emoji.insert_with_emoji(text, "🎉😂")
    assert text.tag_cget(EMOJI_TAG, "font") == "{Noto Color Emoji} -40"
    for _ in range(10):
        tk_root.update()
        time.sleep(0.05)
    x, y = text.winfo_rootx(), text.winfo_rooty()
    image = ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).crop((x, y, x + 120, y + 50)).convert("RGB")
    pixels = image.load()
    coloured = sum(1 for left in range(image.width) for top in range(image.height)
                   if max(pixels[left, top]) - min(pixels[left, top]) > 80)
    assert coloured > 200, f"only {coloured} coloured pixels: the emoji were not drawn in colour"
