"""The bot token: stored in the OS keyring, read back with an environment-variable fallback, and kept out of text.

The token only ever lives in memory, the keyring, or ``$DPS_BOT_TOKEN``. ``redact`` removes it (and anything shaped
like a Discord token) from text; ``install_log_redaction`` applies that to every log record of the process, so a
library that logs a request or an exception carrying the token cannot write it to a log file or a console.
"""
from __future__ import annotations

import logging
import os
import re
import threading

import keyring
import keyring.errors
from keyring.backends import fail

SERVICE = "DiscordPersonaStudio"
KEYRING_USER = "bot_token"
TOKEN_ENV = "DPS_BOT_TOKEN"
REDACTED = "[redacted token]"
# Discord bot tokens are three base64url parts: the bot's user id, a timestamp, an HMAC. Lengths are kept loose
# (Discord has lengthened tokens before); the same shape is what redaction hides.
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{20,}"
                         r"(?![A-Za-z0-9_-])")
NO_KEYRING_HINT = (f"no OS keyring is available on this machine (typical on headless Linux); set the {TOKEN_ENV} "
                   f"environment variable to the bot token instead")

_known_secrets: set[str] = set()
_install_lock = threading.Lock()
_redaction_installed = False

log = logging.getLogger(__name__)


class SecretError(Exception):
    """The token could not be stored, read or validated. Messages never contain the token."""


def validate_token(token: str) -> str:
    """The token stripped of whitespace, or SecretError when it does not look like a bot token."""
    token = (token or "").strip()
    if not token:
        raise SecretError("no token given")
    if token.lower().startswith("bot "):
        raise SecretError("paste the token without the 'Bot ' prefix")
    if not TOKEN_SHAPE.fullmatch(token):
        raise SecretError("that does not look like a Discord bot token (expected three dot-separated base64 parts, "
                          "as shown once on the Bot page of the Discord developer portal)")
    return token


def keyring_available() -> bool:
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def keyring_backend_name() -> str:
    backend = keyring.get_keyring()
    return getattr(backend, "name", type(backend).__name__)


def set_token(token: str) -> None:
    """Validate and store the token in the OS keyring; SecretError (without the token) when that is impossible."""
    token = validate_token(token)
    register_secret(token)
    if not keyring_available():
        raise SecretError(NO_KEYRING_HINT)
    try:
        keyring.set_password(SERVICE, KEYRING_USER, token)
    except keyring.errors.NoKeyringError:
        raise SecretError(NO_KEYRING_HINT) from None
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"the OS keyring refused the token ({type(exc).__name__}: {redact(str(exc))}); "
                          f"set {TOKEN_ENV} instead") from None


def _keyring_token() -> str | None:
    if not keyring_available():
        return None
    try:
        return keyring.get_password(SERVICE, KEYRING_USER) or None
    except keyring.errors.KeyringError as exc:  # a locked or broken keyring: fall back to the environment
        log.warning("could not read the OS keyring (%s); trying %s", type(exc).__name__, TOKEN_ENV)
        return None


def token_source() -> str | None:
    """Where ``get_token`` finds the token: "keyring", "environment", or None when there is none."""
    if _keyring_token():
        return "keyring"
    if os.environ.get(TOKEN_ENV, "").strip():
        return "environment"
    return None


def get_token() -> str | None:
    """The bot token from the OS keyring, else ``$DPS_BOT_TOKEN``, else None. Loading it turns on redaction."""
    token = _keyring_token() or os.environ.get(TOKEN_ENV, "").strip() or None
    if token:
        register_secret(token)
    return token


def delete_token() -> bool:
    """Remove the token from the keyring; True when one was stored there."""
    if not keyring_available() or _keyring_token() is None:
        return False
    try:
        keyring.delete_password(SERVICE, KEYRING_USER)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"the OS keyring refused to delete the token ({type(exc).__name__})") from None
    return True


def register_secret(secret: str) -> None:
    """Remember an exact secret for ``redact`` and make sure log records are redacted from now on."""
    if secret:
        _known_secrets.add(secret)
        install_log_redaction()


def redact(text: str) -> str:
    """``text`` with every known secret and anything shaped like a Discord token replaced."""
    if not text:
        return text
    text = TOKEN_SHAPE.sub(REDACTED, text)
    present = sorted((secret for secret in _known_secrets if secret in text), key=len, reverse=True)
    if present:
        # A known secret inside a longer token-like word (a token whose start was registered, say) takes the whole
        # word with it, so that no tail of it is left to read.
        word = "[A-Za-z0-9_\\-.]*"
        text = re.sub(f"{word}(?:{'|'.join(map(re.escape, present))}){word}", REDACTED, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Bake a redacted message (and traceback) into the record, so that every handler sees only that."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: let logging report it as it normally would
        return record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """For handlers added after the fact (e.g. a log file); records are already redacted at creation."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction() -> None:
    """Wrap the process's log record factory once, so every record of every logger is redacted when created."""
    global _redaction_installed
    with _install_lock:
        if _redaction_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _redaction_installed = True
