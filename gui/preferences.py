"""The panel's own preferences (theme, close-to-tray, GPU layers for the playground, whether the wizard ran), kept
in ``WORKSPACE/panel.json`` and written atomically. Unknown keys are dropped with the defaults filled in, so an old
file never breaks the window; a file that is not JSON is replaced by the defaults (a panel must always open)."""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from core.config.workspace import atomic_write_text

FILE_NAME = "panel.json"
THEMES = ("system", "light", "dark")

log = logging.getLogger(__name__)


@dataclass
class Preferences:
    theme: str = "system"          # follows the OS by default (CustomTkinter reads it through darkdetect)
    close_to_tray: bool = False    # off by default: a window that does not close surprises people
    gpu_layers: int = -1           # llama.cpp layers offloaded in the playground (-1 = all that fit, 0 = CPU)
    wizard_done: bool = False      # the first-run wizard ran (or was skipped) in this workspace
    last_page: str = "dashboard"
    base_model: str = ""           # the wizard's choice, the Training page's default ("" = the bundled small model)


def load_preferences(workspace_root: Path) -> Preferences:
    path = Path(workspace_root) / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Preferences()
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); using the defaults", path, exc)
        return Preferences()
    known = {field.name for field in dataclasses.fields(Preferences)}
    defaults = Preferences()
    values = {}
    for key, value in (data.items() if isinstance(data, dict) else ()):
        if key in known and isinstance(value, type(getattr(defaults, key))):
            values[key] = value
    prefs = Preferences(**values)
    if prefs.theme not in THEMES:
        prefs.theme = "system"
    return prefs


def save_preferences(workspace_root: Path, prefs: Preferences) -> None:
    atomic_write_text(Path(workspace_root) / FILE_NAME, json.dumps(dataclasses.asdict(prefs), indent=2))
