"""`fetch` through the CLI with a fake discord.py client: JSON summary, exit codes, and no token anywhere."""
from __future__ import annotations

import io
import json
import logging

import pytest

import core.fetching.discord_source
from core.config import secrets
from tests.conftest import run_cli
from tests.fakes_discord import FakeThread, build_server, http_error, make_token
from tests.memory_keyring import _STORE


@pytest.fixture
def server(monkeypatch):
    _STORE.clear()
    monkeypatch.delenv(secrets.TOKEN_ENV, raising=False)
    built = build_server(messages=150)
    monkeypatch.setattr(core.fetching.discord_source, "CLIENT_FACTORY", lambda: built.client)
    yield built
    _STORE.clear()


def store_token(workspace, monkeypatch, token):
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    code, out, err = run_cli("token", "set", workspace=workspace)
    assert code == 0, err


def test_fetch_without_a_token_fails_with_one_line(workspace, server):
    code, out, err = run_cli("fetch", "--json", workspace=workspace)
    assert (code, out) == (1, "")
    assert err == "error: no bot token: run `launcher.py token set` or set DPS_BOT_TOKEN\n"


def test_fetch_without_channels_says_how_to_add_them(workspace, server, monkeypatch):
    monkeypatch.setenv(secrets.TOKEN_ENV, server.token)
    code, out, err = run_cli("fetch", workspace=workspace)
    assert code == 1 and "channels add" in err and err.count("\n") == 1


def test_a_rejected_token_is_one_clear_line_and_the_client_is_closed(workspace, server, monkeypatch):
    monkeypatch.setenv(secrets.TOKEN_ENV, make_token(444444444444444444))
    code, out, err = run_cli("fetch", "--channel", str(server.general.id), workspace=workspace)
    assert code == 1 and "Discord rejected the bot token" in err and err.count("\n") == 1
    assert server.client.closed


def test_fetch_json_summary_after_allowlisting(workspace, server, monkeypatch):
    store_token(workspace, monkeypatch, server.token)
    thread = FakeThread(server.general, "a thread", archived=True)
    thread.fill(7, [server.alice])
    code, out, err = run_cli("channels", "add", str(server.general.id), str(server.random.id), workspace=workspace)
    assert code == 0, err
    code, out, err = run_cli("fetch", "--json", workspace=workspace)
    assert code == 0, err
    result = json.loads(out)
    assert {"channels", "messages_new", "messages_updated", "skipped", "seconds"} <= set(result)
    assert (result["channels"], result["threads"], result["messages_new"]) == (2, 1, 150 + 40 + 7)
    assert result["skipped"] == [] and result["seconds"] >= 0
    assert "#general" in err and "messages fetched" in err  # human progress lines on stderr
    assert server.client.closed
    code, out, err = run_cli("fetch", "--json", workspace=workspace)
    assert json.loads(out)["messages_new"] == 0
    code, out, err = run_cli("fetch", "--channel", str(server.random.id), workspace=workspace)
    assert code == 0 and out.startswith("fetched 1 channels and 0 threads: 0 new")


def test_the_token_never_appears_in_logs_output_files_or_errors(workspace, server, monkeypatch, caplog):
    token = server.token
    workspace.config_path.write_text("[fetch]\nmax_retries = 1\nretry_base_seconds = 0.01\n", encoding="utf-8")
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    for name in ("discord", "discord.http", "discord.client", "discord.gateway"):
        caplog.set_level(logging.DEBUG, logger=name)
    outputs = []
    try:
        store_token(workspace, monkeypatch, token)
        hidden = FakeThread(server.general, "private", private=True, readable=False)
        hidden.fill(2, [server.bob])
        # Discord errors whose text carries the token (as a buggy proxy might echo it back)
        server.random.fail_at.update({1: http_error(500, f"upstream echoed Bot {token}"),
                                      2: http_error(500, f"upstream echoed Bot {token}")})
        for argv in (("channels", "list", "--json"), ("channels", "add", str(server.general.id)),
                     ("fetch", "--json", "--channel", str(server.general.id), str(server.random.id)),
                     ("token", "status", "--json"), ("channels", "list", "--offline")):
            outputs.append(run_cli(*argv, workspace=workspace))
        server.general.fail_at[server.general.requests + 1] = RuntimeError(f"unexpected failure near {token}")
        server.general.add(server.alice, "one more")
        outputs.append(run_cli("fetch", "--debug", workspace=workspace))
    finally:
        root.removeHandler(handler)
    codes = [code for code, _, _ in outputs]
    assert codes == [0, 0, 0, 0, 0, 1], outputs
    skipped = json.loads(outputs[2][1])["skipped"]
    assert {item["channel_id"] for item in skipped} == {server.random.id, hidden.id}
    assert secrets.REDACTED in outputs[2][2]  # the echoed error was shown, redacted
    assert "unexpected failure near" in outputs[-1][2] and "Traceback" in outputs[-1][2]
    texts = [text for _, out, err in outputs for text in (out, err)] + [log_stream.getvalue(), caplog.text]
    assert "POST /auth/login" in caplog.text  # the fake client's chatty debug line was captured...
    for text in texts:
        assert token not in text and token.split(".")[2] not in text  # ...but never the token
    files = [path for path in workspace.root.rglob("*") if path.is_file()]
    assert workspace.config_path in files and workspace.database_path in files
    for path in files:
        data = path.read_bytes()
        assert token.encode() not in data and token.split(".")[2].encode() not in data, path
