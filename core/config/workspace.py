"""The user's workspace: one folder holding the database, memory, runs, models, config and logs."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "DiscordPersonaStudio"
WORKSPACE_ENV = "DPS_WORKSPACE"


def default_workspace() -> Path:
    """``$DPS_WORKSPACE`` when set, else the platform's per-user data folder (AppData on Windows)."""
    override = os.environ.get(WORKSPACE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, root: Path | str | None = None) -> "Workspace":
        workspace = cls(Path(root).expanduser().resolve() if root else default_workspace().resolve())
        for folder in (workspace.root, workspace.runs_dir, workspace.models_dir, workspace.datasets_dir,
                       workspace.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return workspace

    @property
    def database_path(self) -> Path:
        return self.root / "studio.db"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def connect(self):
        from storage.db import connect
        return connect(self.database_path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half of it."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temp_name, 0o666 & ~current_umask())  # mkstemp makes 0600; the result should look like any file
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask, read without changing it: ``os.umask`` can only be read by setting it, and flipping it to
    0 even for an instant lets another thread create a world-writable file. Linux reports it in /proc/self/status;
    elsewhere on POSIX it is read once, at import (before the app starts its threads); Windows has no umask."""
    if os.name == "nt":
        return 0
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


def _read_umask_once() -> int:
    if os.name == "nt" or os.path.exists("/proc/self/status"):
        return 0o022  # not used: Windows has no umask, Linux reads /proc each time
    mask = os.umask(0o022)  # macOS and BSDs: once, at import, while the process has no other threads yet
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask_once()
