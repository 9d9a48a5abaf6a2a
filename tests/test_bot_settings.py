"""Bot settings in SQLite (migration 0005): typed values, per-channel overrides, the version row and its triggers."""
from __future__ import annotations

import pytest

from core.ingest.records import ChannelRow, GuildRow, MessageBatch
from storage import bot_settings, channels
from storage.bot_settings import BotSettingsError
from storage.messages import write_batch


def test_defaults_then_stored_values_are_typed(workspace):
    conn = workspace.connect()
    assert bot_settings.load(conn) == bot_settings.BotSettings()
    assert bot_settings.set_value(conn, "rate", "0.25") == 0.25
    assert bot_settings.set_value(conn, "mentions_only", "yes") is True
    assert bot_settings.set_value(conn, "admin_ids", "12, 34") == (12, 34)
    assert bot_settings.set_value(conn, "blocklist", ["darn", " heck "]) == ("darn", "heck")
    bot_settings.set_value(conn, "avatars", {"500": "https://cdn.example/a.png"})
    loaded = bot_settings.load(workspace.connect())
    assert (loaded.rate, loaded.mentions_only, loaded.admin_ids, loaded.blocklist) == (0.25, True, (12, 34),
                                                                                       ("darn", "heck"))
    assert loaded.avatars == {500: "https://cdn.example/a.png"}


@pytest.mark.parametrize("key, value, message", [
    ("rate", 1.5, "bot setting rate: 1.5 is outside 0.0..1.0"),
    ("max_tokens", "many", "bot setting max_tokens: 'many' is not usable"),
    ("mentions_only", "maybe", "bot setting mentions_only: 'maybe' is not usable"),
    ("colour", 1, "unknown bot setting 'colour'"),
])
def test_bad_values_are_refused_with_the_key_named(workspace, key, value, message):
    conn = workspace.connect()
    with pytest.raises(BotSettingsError) as error:
        bot_settings.set_value(conn, key, value)
    assert str(error.value).startswith(message)
    assert bot_settings.load(conn) == bot_settings.BotSettings()  # nothing half-written


def test_a_corrupt_stored_value_names_the_key(workspace):
    conn = workspace.connect()
    conn.execute("INSERT INTO bot_settings (key, value) VALUES ('temperature', '\"hot\"')")
    with pytest.raises(BotSettingsError, match="bot setting temperature"):
        bot_settings.load(conn)


def test_every_change_bumps_the_version_the_allowlist_and_consent_included(workspace):
    conn = workspace.connect()
    write_batch(conn, MessageBatch(guilds={1: GuildRow(1, "g")}, channels={10: ChannelRow(10, 1, "GuildTextChat", "a")}))
    seen = [bot_settings.settings_version(conn)]
    bot_settings.set_value(conn, "rate", 0.5)
    bot_settings.set_channel(conn, 10, persona_id=500)
    channels.set_allowlisted(conn, [10], True)
    from storage.consent import set_opted_out
    set_opted_out(conn, 77, True)
    seen.append(bot_settings.settings_version(conn))
    assert seen[1] >= seen[0] + 4
    loaded = bot_settings.load(conn)
    assert loaded.allowlist == {10} and loaded.channels[10] == bot_settings.ChannelSettings(500, False)
    assert bot_settings.persona_for(loaded, 10) == 500 and bot_settings.persona_for(loaded, 99, parent_id=10) == 500
    assert bot_settings.persona_for(loaded, 99) is None
    bot_settings.set_channel(conn, 10, webhook=True)
    assert bot_settings.load(conn).channels[10] == bot_settings.ChannelSettings(500, True)  # persona kept
