"""The bot's settings in SQLite (migration 0005): typed global keys, per-channel overrides, one version number.

The control panel, the CLI and the bot's admin commands all edit these rows; the running bot polls
``settings_version`` (a trigger bumps it on every change, the channel allowlist included) and re-reads ``load``.
A stored value of the wrong type is a ``BotSettingsError`` naming the key (the bot exits with its config code
instead of guessing). Values are JSON so that lists (admin ids, the blocklist) and maps (avatars) fit one column.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields, replace
from typing import Any


class BotSettingsError(ValueError):
    """A bot setting is unknown or has an unusable value; the message names the key and why."""


@dataclass(frozen=True)
class ChannelSettings:
    persona_id: int | None = None  # None: the default persona
    webhook: bool = False          # reply through a channel webhook with the persona's name and avatar


@dataclass(frozen=True)
class BotSettings:
    """Every global knob, with its default and why."""
    model_path: str = ""            # the GGUF to load; "" = the newest .gguf under WORKSPACE/models
    persona_id: int | None = None   # the default persona (a user id); None: the model's own (most training examples)
    rate: float = 0.05              # chance of answering an unaddressed message in an allowlisted channel
    mentions_only: bool = False     # only mentions of the bot and replies to it
    temperature: float = 0.7        # as core.prompting.reply.ReplySettings
    max_tokens: int = 96            # Discord replies are short; more is usually babbling
    cooldown_seconds: float = 20.0  # per channel, between two unaddressed replies: a bot that answers everything is spam
    replies_per_minute: int = 6     # across every channel: Discord rate limits, and a runaway loop stays small
    max_age_seconds: float = 60.0   # never answer older messages (a restart must not answer the backlog)
    reply_in_thread: bool = False   # answer in a new thread on the triggering message (text channels)
    capture: bool = False           # store live messages of allowlisted channels (and add them to memory)
    memory: bool = True             # recall memories when the workspace has a memory index
    gpu_layers: int = -1            # llama.cpp layers on the GPU for the bot's model: -1 all that fit, 0 CPU
    admin_ids: tuple[int, ...] = () # users allowed admin commands besides those with Manage Server
    home_guild_ids: tuple[int, ...] = ()  # the servers the bot serves: elsewhere it answers, changes and syncs nothing
    blocklist: tuple[str, ...] = () # words a reply must not contain (regenerated once, then dropped)
    avatars: dict[int, str] = field(default_factory=dict)  # persona id -> avatar URL for webhook replies
    channels: dict[int, ChannelSettings] = field(default_factory=dict)  # loaded from bot_channels
    allowlist: frozenset[int] = frozenset()  # channels.allowlisted, read with the rest


RANGES = {"rate": (0.0, 1.0), "temperature": (0.0, 2.0), "max_tokens": (1, 1024), "cooldown_seconds": (0.0, 86400.0),
          "replies_per_minute": (0, 600), "max_age_seconds": (1.0, 86400.0), "gpu_layers": (-1, 1000)}
STORED_KEYS = tuple(f.name for f in fields(BotSettings) if f.name not in ("channels", "allowlist"))


def coerce(key: str, value: Any) -> Any:
    """``value`` as the type of ``key`` (strings from a command line are parsed), or BotSettingsError."""
    if key not in STORED_KEYS:
        raise BotSettingsError(f"unknown bot setting {key!r} (known: {', '.join(STORED_KEYS)})")
    default = getattr(BotSettings(), key)
    try:
        result = _coerce_to(key, default, value)
    except (TypeError, ValueError) as exc:
        raise BotSettingsError(f"bot setting {key}: {value!r} is not usable ({exc})") from None
    if key in RANGES:
        low, high = RANGES[key]
        if not low <= result <= high:
            raise BotSettingsError(f"bot setting {key}: {result} is outside {low}..{high}")
    return result


def _coerce_to(key: str, default: Any, value: Any) -> Any:
    if key == "persona_id":
        return None if value in (None, "", "none") else _integer(value)
    if isinstance(default, bool):
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if isinstance(default, int):
        return _integer(value)
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ValueError("expected a number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    if key in ("admin_ids", "home_guild_ids"):
        return tuple(dict.fromkeys(_integer(item) for item in _items(value)))
    if key == "blocklist":
        return tuple(str(item).strip() for item in _items(value) if str(item).strip())
    if key == "avatars":
        if not isinstance(value, dict):
            raise ValueError("expected a map of persona id to URL")
        return {_integer(k): str(v) for k, v in value.items()}
    raise ValueError("unsupported")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("expected a whole number")
    return int(value)


def _items(value: Any) -> list:
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError("expected a list")


def settings_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT version FROM bot_settings_version WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def load(conn: sqlite3.Connection) -> BotSettings:
    """The settings as stored (defaults for keys never set); BotSettingsError for a stored value of the wrong type."""
    values: dict[str, Any] = {}
    for key, text in conn.execute("SELECT key, value FROM bot_settings"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            raise BotSettingsError(f"bot setting {key}: stored value {text!r} is not JSON") from None
        values[key] = coerce(key, raw)
    channels = {int(channel_id): ChannelSettings(None if persona is None else int(persona), bool(webhook))
                for channel_id, persona, webhook in conn.execute(
                    "SELECT channel_id, persona_id, webhook FROM bot_channels")}
    allowlist = frozenset(row[0] for row in conn.execute("SELECT id FROM channels WHERE allowlisted = 1"))
    return replace(BotSettings(), **values, channels=channels, allowlist=allowlist)


def set_value(conn: sqlite3.Connection, key: str, value: Any) -> Any:
    """Store one setting (validated); returns the stored value."""
    value = coerce(key, value)
    if key == "avatars":
        stored: Any = {str(k): v for k, v in value.items()}
    else:
        stored = list(value) if isinstance(value, tuple) else value
    conn.execute("INSERT INTO bot_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                 "value = excluded.value", (key, json.dumps(stored)))
    return value


def set_channel(conn: sqlite3.Connection, channel_id: int, *, persona_id: int | None | str = "keep",
                webhook: bool | None = None) -> ChannelSettings:
    """Change one channel's overrides (``persona_id="keep"`` and ``webhook=None`` leave that field as it is)."""
    row = conn.execute("SELECT persona_id, webhook FROM bot_channels WHERE channel_id = ?", (channel_id,)).fetchone()
    current = ChannelSettings(row[0], bool(row[1])) if row else ChannelSettings()
    updated = ChannelSettings(current.persona_id if persona_id == "keep" else persona_id,
                              current.webhook if webhook is None else bool(webhook))
    conn.execute("INSERT INTO bot_channels (channel_id, persona_id, webhook) VALUES (?, ?, ?) ON CONFLICT(channel_id) "
                 "DO UPDATE SET persona_id = excluded.persona_id, webhook = excluded.webhook",
                 (channel_id, updated.persona_id, int(updated.webhook)))
    return updated


def add_home_guilds(conn: sqlite3.Connection, guild_ids) -> tuple[int, ...]:
    """Make these servers home too (allowlisting a channel does: its server is the one the bot serves); returns the
    home servers. Call inside the caller's transaction when there is one."""
    row = conn.execute("SELECT value FROM bot_settings WHERE key = 'home_guild_ids'").fetchone()
    current = coerce("home_guild_ids", json.loads(row[0])) if row else ()
    wanted = tuple(dict.fromkeys([*current, *(int(g) for g in guild_ids if g is not None)]))
    if wanted != current:
        set_value(conn, "home_guild_ids", wanted)
    return wanted


def persona_for(settings: BotSettings, channel_id: int, parent_id: int | None = None) -> int | None:
    """The persona answering in a channel (a thread follows its parent channel unless it has its own)."""
    for place in (channel_id, parent_id):
        override = settings.channels.get(place) if place is not None else None
        if override is not None and override.persona_id is not None:
            return override.persona_id
    return settings.persona_id


def webhook_for(settings: BotSettings, channel_id: int) -> bool:
    override = settings.channels.get(channel_id)
    return bool(override and override.webhook)


def set_avatar_url(conn: sqlite3.Connection, user_id: int, url: str | None) -> None:
    """Record a user's avatar as Discord shows it (only for a user already stored)."""
    conn.execute("UPDATE users SET avatar_url = ? WHERE id = ? AND avatar_url IS NOT ?", (url, user_id, url))


def avatar_url(conn: sqlite3.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT avatar_url FROM users WHERE id = ?", (user_id,)).fetchone()
    return row[0] if row else None
