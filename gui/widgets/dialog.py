"""Where a question window appears: centred over the panel's window, on top of it and with the keyboard focus, so a
confirmation (forget, leave a server, upload, quit) is never opened out of sight in a screen corner."""
from __future__ import annotations


def centred_over(window, width: int, height: int) -> tuple[int, int]:
    """The top-left corner that centres a ``width`` x ``height`` dialog over ``window``, kept on its screen."""
    x = window.winfo_rootx() + (window.winfo_width() - width) // 2
    y = window.winfo_rooty() + (window.winfo_height() - height) // 3  # a little above the middle, as dialogs sit
    x = min(max(0, x), max(0, window.winfo_screenwidth() - width))
    y = min(max(0, y), max(0, window.winfo_screenheight() - height))
    return x, y


def present(dialog, master) -> None:
    """Show ``dialog`` over ``master``'s window: centred, kept above it, focused. It is measured while withdrawn and
    shown at its place (X11 without a window manager otherwise maps it at the screen's corner)."""
    window = master.winfo_toplevel()
    dialog.withdraw()
    dialog.transient(window)
    dialog.update_idletasks()
    width, height = dialog.winfo_reqwidth(), dialog.winfo_reqheight()
    x, y = centred_over(window, width, height)
    dialog.geometry(f"+{x}+{y}")
    dialog.deiconify()
    dialog.lift(window)
    dialog.focus_set()
