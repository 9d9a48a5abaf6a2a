"""Shared fixtures: an isolated workspace, an in-memory OS keyring, the sample data folders."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

# Tests never touch the user's real keyring or workspace.
os.environ["PYTHON_KEYRING_BACKEND"] = "tests.memory_keyring.MemoryKeyring"
os.environ.pop("DPS_BOT_TOKEN", None)


@pytest.fixture(autouse=True)
def empty_keyring():
    """Every test starts with an empty in-memory keyring: a token one test stored never reaches the next."""
    from tests import memory_keyring
    memory_keyring._STORE.clear()
    yield
    memory_keyring._STORE.clear()


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from core.config.workspace import Workspace
    root = tmp_path / "ws"
    monkeypatch.setenv("DPS_WORKSPACE", str(root))
    return Workspace.open(root)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"sample exports not found at {SHARED_DATA}")
    return SHARED_DATA


def run_cli(*argv: str, workspace=None) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io
    from launcher import main
    out, err = io.StringIO(), io.StringIO()
    args = (["--workspace", str(workspace.root)] if workspace else []) + list(argv)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()
