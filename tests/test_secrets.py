"""The bot token: keyring storage, environment fallback, validation, redaction of text and log records."""
from __future__ import annotations

import io
import json
import logging

import keyring
import pytest
from keyring.backends import fail

from core.config import secrets
from tests.conftest import run_cli
from tests.fakes_discord import make_token
from tests.memory_keyring import _STORE

TOKEN = make_token(987654321098765432)


@pytest.fixture(autouse=True)
def empty_keyring(monkeypatch):
    _STORE.clear()
    monkeypatch.delenv(secrets.TOKEN_ENV, raising=False)
    yield
    _STORE.clear()


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def pipe_stdin(monkeypatch, text: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_token_round_trips_through_the_keyring():
    assert secrets.get_token() is None and secrets.token_source() is None
    secrets.set_token(f"  {TOKEN}\n")
    assert secrets.get_token() == TOKEN
    assert secrets.token_source() == "keyring"
    assert _STORE == {(secrets.SERVICE, secrets.KEYRING_USER): TOKEN}
    assert secrets.delete_token() is True
    assert secrets.get_token() is None and secrets.delete_token() is False


def test_environment_variable_is_the_fallback(monkeypatch):
    monkeypatch.setenv(secrets.TOKEN_ENV, TOKEN)
    assert secrets.get_token() == TOKEN and secrets.token_source() == "environment"
    other = make_token(111111111111111111)
    secrets.set_token(other)
    assert secrets.get_token() == other and secrets.token_source() == "keyring"


@pytest.mark.parametrize("bad", ["", "   ", "abc", "a.b.c", f"Bot {TOKEN}", TOKEN.replace(".", "", 1),
                                 TOKEN + "!", TOKEN.replace(".", " . ")])
def test_malformed_tokens_are_refused_without_echoing_them(bad):
    with pytest.raises(secrets.SecretError) as error:
        secrets.set_token(bad)
    assert bad.strip() == "" or bad.strip() not in str(error.value)
    assert _STORE == {}


def test_without_a_keyring_backend_the_error_points_at_the_environment_variable(no_keyring, monkeypatch):
    with pytest.raises(secrets.SecretError, match=secrets.TOKEN_ENV):
        secrets.set_token(TOKEN)
    assert secrets.get_token() is None
    monkeypatch.setenv(secrets.TOKEN_ENV, TOKEN)
    assert secrets.get_token() == TOKEN and secrets.token_source() == "environment"


def test_redact_hides_known_secrets_and_anything_token_shaped():
    secrets.register_secret("not-shaped-secret-value")
    unknown = make_token(555555555555555555)
    text = f"a not-shaped-secret-value b Bot {unknown} c config.toml d some.module.name e x.y.z"
    assert secrets.redact(text) == (f"a {secrets.REDACTED} b Bot {secrets.REDACTED} c config.toml "
                                    f"d some.module.name e x.y.z")


def test_a_known_secret_inside_a_longer_word_takes_the_whole_word_and_leaves_no_tail():
    """CI once showed "[redacted token]456789AB": an earlier test had registered the start of a token, the exact
    replacement took that start and left the rest of the token readable."""
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
    secrets.register_secret(token[:-8])
    secrets.register_secret("plainsecret")
    assert secrets.redact(f"login failed for {token}") == f"login failed for {secrets.REDACTED}"
    assert secrets.redact("x=plainsecret-tail, y") == f"x={secrets.REDACTED}, y"


def test_log_records_are_redacted_for_every_handler(caplog):
    secrets.register_secret(TOKEN)
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("discord.http")
    logger.debug("headers: %s", {"Authorization": f"Bot {TOKEN}"})
    try:
        raise RuntimeError(f"request failed for {TOKEN}")
    except RuntimeError:
        logger.exception("boom %s", TOKEN)
    assert TOKEN not in caplog.text
    assert secrets.REDACTED in caplog.text and "RuntimeError: request failed for" in caplog.text
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        logger.warning("token=%s", TOKEN)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"token={secrets.REDACTED}\n"


def test_cli_token_set_reads_piped_stdin_and_status_never_shows_it(workspace, monkeypatch):
    pipe_stdin(monkeypatch, TOKEN + "\n")
    code, out, err = run_cli("token", "set", "--json", workspace=workspace)
    assert code == 0, err
    assert json.loads(out) == {"stored": True, "backend": secrets.keyring_backend_name()}
    code, out, err = run_cli("token", "status", "--json", workspace=workspace)
    assert json.loads(out) == {"available": True, "source": "keyring", "keyring_available": True,
                               "backend": secrets.keyring_backend_name()}
    code, out, err = run_cli("token", "delete", workspace=workspace)
    assert code == 0 and "deleted: True" in out and secrets.get_token() is None


def test_cli_token_set_prompts_without_echo_on_a_terminal(workspace, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr("sys.stdin", Terminal(""))
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or TOKEN)
    code, out, err = run_cli("token", "set", workspace=workspace)
    assert code == 0, err
    assert prompts and "hidden" in prompts[0]
    assert secrets.get_token() == TOKEN


def test_cli_token_set_errors_are_one_line_without_the_token(workspace, monkeypatch, no_keyring):
    pipe_stdin(monkeypatch, TOKEN + "\n")
    code, out, err = run_cli("token", "set", workspace=workspace)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and secrets.TOKEN_ENV in err and TOKEN not in err


def test_cli_refuses_a_malformed_token(workspace, monkeypatch):
    pipe_stdin(monkeypatch, "hunter2-is-my-password\n")
    code, out, err = run_cli("token", "set", workspace=workspace)
    assert code == 1 and "does not look like a Discord bot token" in err and "hunter2" not in err
    assert _STORE == {}


def test_the_token_is_never_an_argv_option(workspace):
    code, out, err = run_cli("token", "set", TOKEN, workspace=workspace)
    assert code == 2 and _STORE == {}
