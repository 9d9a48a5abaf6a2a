"""The real bot child (``launcher.py --worker bot``) under the real supervisor (``launcher.py bot``): a malformed
token and an unusable setting each end in one clear line and FATAL, never a restart loop, never the token shown.
(Replaces the placeholder-entry test in tests/test_controller_cli.py.)"""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_controller_cli import ROOT, TOKEN, environment

MALFORMED = "not-a-token-at-all-but-long-enough"


def run_bot(workspace, token: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "launcher.py"), "--workspace", str(workspace.root), "bot"],
                          cwd=ROOT, env=environment(token), capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_malformed_token_exits_78_and_the_supervisor_goes_fatal(workspace):
    result = run_bot(workspace, MALFORMED)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("bot: starting") == 1  # no restart loop
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the bot token was refused (set a new one with `launcher.py token set`): "
                           "the stored bot token is malformed: "), result.stderr
    assert MALFORMED not in result.stdout + result.stderr
    log = (workspace.logs_dir / "bot.log").read_text(encoding="utf-8")
    assert "the stored bot token is malformed" in log and MALFORMED not in log


@pytest.mark.slow
def test_an_unusable_bot_setting_exits_79_with_the_key_named(workspace):
    conn = workspace.connect()
    conn.execute("INSERT INTO bot_settings (key, value) VALUES ('rate', '\"often\"')")
    conn.close()
    result = run_bot(workspace, TOKEN)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the bot's configuration is invalid: bot setting rate"), result.stderr
    assert result.stderr.count("bot: starting") == 1
    assert TOKEN not in result.stdout + result.stderr
    assert TOKEN not in (workspace.logs_dir / "bot.log").read_text(encoding="utf-8")
