"""Worker processes at the operating-system level: how they are started (their own session or process group, no
console window on Windows) and how a whole process tree is ended."""
from __future__ import annotations

import os
import subprocess


def kill_tree(pid: int) -> None:
    import psutil
    try:
        parent = psutil.Process(pid)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for process in [*children, parent]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def platform_options() -> dict:
    """Keep a worker out of the terminal's Ctrl+C (the runner stops it cooperatively) and, on Windows, without a
    console window of its own."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def no_window() -> dict:
    """For a short helper process (a version probe): on Windows, no console window flashing up from the panel."""
    return {"creationflags": subprocess.CREATE_NO_WINDOW} if os.name == "nt" else {}


def write_lines(lines, stdin) -> None:
    """Body of the one thread that writes a child's stdin: a pipe write can block while the child does not read, so
    callers only queue ``lines`` (str; None ends it). Stops quietly once the child is gone."""
    while True:
        line = lines.get()
        if line is None:
            return
        try:
            stdin.write(line.encode("utf-8"))
            stdin.flush()
        except (OSError, ValueError):
            return  # the child is going away; later lines have nobody to read them
