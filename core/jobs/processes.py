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
