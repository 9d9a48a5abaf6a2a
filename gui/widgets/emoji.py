"""Emoji in the panel's text boxes (the Dataset page's preview and curation): which installed font draws them, and
inserting text so that runs of emoji are drawn with it.

Tk draws a character its font lacks with another font that has it (X11: fontconfig through Xft; Windows: the system's
fonts; macOS: Core Text), so an emoji shows when some installed font has it and is an empty box when none does: a
Linux desktop without an emoji font. And a monospace font with a few emoji of its own wins over the emoji font for
those (DejaVu Sans Mono draws 😂 and 🐱 as black outlines beside colour 🎉), so ``insert_with_emoji`` tags each run of
emoji in a Text widget with the emoji font explicitly.

What was checked (Debian 12, Tk 8.6.13, libXft 2.3.6, under Xvfb): with no emoji font most emoji are boxes; with
Noto Color Emoji (``fonts-noto-color-emoji``) they are drawn in colour; with only Symbola (``fonts-symbola``) in black
outlines. Colour glyphs need libXft 2.3.5 or newer; an older libXft cannot draw a colour font (Tk programs there have
failed with X's BadLength error on one), so ``pick_family`` takes a monochrome font there. Windows gets Segoe UI Emoji
and macOS Apple Color Emoji (not checked on those systems yet).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
import tkinter.font

COLOUR_XFT = 20305  # libXft 2.3.5 (XftGetVersion's 2*10000 + 3*100 + 5): the first that draws colour glyph fonts
LINUX_COLOUR = ("Noto Color Emoji", "Twitter Color Emoji", "JoyPixels")
LINUX_MONO = ("Symbola", "Noto Emoji", "OpenMoji")
WINDOWS = ("Segoe UI Emoji", "Segoe UI Symbol")
MACOS = ("Apple Color Emoji",)
EMOJI_TAG = "emoji"
# code points drawn as emoji: pictographs, emoticons, transport, flags' letters, skin tones (all in 1F000-1FAFF),
# the older symbols and dingbats (2600-27BF) and a few more (⌚ ⌛ ⏰ ⭐ ⬛ ...)
RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x231A, 0x231B), (0x23E9, 0x23FA),
          (0x2328, 0x2328), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3299))
JOINERS = {0x200D, 0xFE0F, 0x20E3} | set(range(0xE0020, 0xE0080))  # ZWJ, emoji presentation, keycap, tag letters
_cache: dict[str, str | None] = {}


def is_emoji(character: str) -> bool:
    point = ord(character)
    return any(low <= point <= high for low, high in RANGES)


def split_emoji(text: str) -> list[tuple[str, bool]]:
    """``text`` as (run, is_emoji) pieces in order; a joiner or variation selector after an emoji stays in its run
    (👨‍👩‍👧 and ❤️ are one run each)."""
    pieces: list[tuple[str, bool]] = []
    start, emoji = 0, False
    for index, character in enumerate(text):
        here = is_emoji(character) or (emoji and ord(character) in JOINERS)
        if index and here != emoji:
            pieces.append((text[start:index], emoji))
            start = index
        emoji = here
    if text:
        pieces.append((text[start:], emoji))
    return pieces


def pick_family(platform: str, families, xft_version: int | None) -> str | None:
    """The emoji font to use among the installed ``families``, or None when there is none."""
    installed = {name.lower(): name for name in families}
    if platform == "win32":
        wanted = WINDOWS
    elif platform == "darwin":
        wanted = MACOS
    else:
        colour = xft_version is not None and xft_version >= COLOUR_XFT
        wanted = (LINUX_COLOUR + LINUX_MONO) if colour else LINUX_MONO
    return next((installed[name.lower()] for name in wanted if name.lower() in installed), None)


def xft_version() -> int | None:
    """The libXft this process loads (Tk's, on X11), as XftGetVersion gives it; None where there is none."""
    name = ctypes.util.find_library("Xft")
    if name is None:
        return None
    try:
        return int(ctypes.CDLL(name).XftGetVersion())
    except (OSError, AttributeError):
        return None


def emoji_family(widget) -> str | None:
    """The emoji font for this display (looked up once per process: Tk lists every installed family)."""
    if "family" not in _cache:
        families = tkinter.font.families(widget)
        version = xft_version() if sys.platform.startswith("linux") else None
        _cache["family"] = pick_family(sys.platform, families, version)
    return _cache["family"]


def insert_with_emoji(widget, text: str, tags: tuple[str, ...] = ()) -> None:
    """Insert ``text`` at the end of a tk Text ``widget`` with ``tags``; its emoji runs also get ``EMOJI_TAG``, whose
    font is the emoji font at the widget's size (plain text when no emoji font is installed)."""
    family = emoji_family(widget)
    if family is None:
        widget.insert("end", text, tags)
        return
    widget.tag_configure(EMOJI_TAG, font=(family, font_size(widget)))
    for piece, emoji in split_emoji(text):
        widget.insert("end", piece, (*tags, EMOJI_TAG) if emoji else tags)


def font_size(widget) -> int:
    """The widget's font size as configured (-11: 11 pixels), for a named font or a description such as the
    ``Courier -11`` CustomTkinter gives its text boxes."""
    description = widget.cget("font")
    if str(description) in widget.tk.splitlist(widget.tk.call("font", "names")):
        return int(widget.tk.call("font", "configure", description, "-size"))
    parts = widget.tk.splitlist(description)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return int(widget.tk.call("font", "actual", description, "-size"))
