"""The allowlist and checkpoint queries (storage.channels) and the `channels list|add|remove` commands."""
from __future__ import annotations

import json

import pytest

import core.fetching.discord_source
from core.config import secrets
from core.fetching.channel_listing import merge_listing
from core.fetching.fetch import SourceChannel
from core.ingest.records import ChannelRow, GuildRow, MessageBatch, MessageRow, UserRow
from storage.channels import allowlisted_ids, fetch_state, set_allowlisted, stored_channels
from storage.messages import Checkpoint, write_batch
from tests.conftest import run_cli
from tests.fakes_discord import FakeThread, build_server
from tests.memory_keyring import _STORE

GUILD = GuildRow(1, "Guild")
TEXT = ChannelRow(10, 1, "GuildTextChat", "general", category="Chat")
THREAD = ChannelRow(11, 1, "GuildPublicThread", "a thread", parent_id=10, category="general")


@pytest.fixture(autouse=True)
def empty_keyring():
    _STORE.clear()
    yield
    _STORE.clear()


@pytest.fixture
def conn(workspace):
    connection = workspace.connect()
    write_batch(connection, MessageBatch(guilds={1: GUILD}, channels={10: TEXT, 11: THREAD}))
    yield connection
    connection.close()


@pytest.fixture
def server(monkeypatch):
    built = build_server(messages=20)
    monkeypatch.setattr(core.fetching.discord_source, "CLIENT_FACTORY", lambda: built.client)
    monkeypatch.setenv(secrets.TOKEN_ENV, built.token)
    return built


def message(id: int, channel_id: int = 10) -> MessageRow:
    return MessageRow(id, channel_id, 5, "2024-01-01T00:00:00.000000+00:00", None, "Default", f"m{id}")


def test_allowlist_flag_changes_in_one_transaction(conn):
    assert allowlisted_ids(conn) == []
    assert set_allowlisted(conn, [10, 11, 10], True) == [10, 11]
    assert set_allowlisted(conn, [10], True) == []
    with pytest.raises(KeyError) as error:
        set_allowlisted(conn, [11, 99], False)
    assert error.value.args[0] == 99
    assert allowlisted_ids(conn) == [10, 11]  # nothing changed by the failed call
    assert set_allowlisted(conn, [11], False) == [11] and allowlisted_ids(conn) == [10]


def test_fetch_state_prefers_the_checkpoint_and_derives_it_from_imported_messages(conn):
    assert fetch_state(conn, 10) == fetch_state(conn, 10).__class__(None, None, False, False)
    batch = MessageBatch(users={5: UserRow(5, "u", "U")}, messages=[message(100), message(300), message(200)])
    write_batch(conn, batch)
    state = fetch_state(conn, 10)
    assert (state.newest_id, state.oldest_id, state.backfill_complete, state.derived) == (300, 100, False, True)
    write_batch(conn, MessageBatch(), Checkpoint(10, newest_stored_id=250, oldest_stored_id=150,
                                                 backfill_complete=True))
    state = fetch_state(conn, 10)
    assert (state.newest_id, state.oldest_id, state.backfill_complete, state.derived) == (250, 150, True, False)


def test_stored_channels_carry_guild_counts_and_checkpoints(conn):
    write_batch(conn, MessageBatch(users={5: UserRow(5, "u", "U")}, messages=[message(100), message(101, 11)]),
                Checkpoint(11, newest_stored_id=101, oldest_stored_id=101, backfill_complete=True))
    channels = {channel.id: channel for channel in stored_channels(conn)}
    assert channels[10].guild_name == "Guild" and channels[10].messages == 1 and not channels[10].backfill_complete
    assert (channels[11].parent_id, channels[11].newest_stored_id, channels[11].backfill_complete) == (10, 101, True)


def test_merge_listing_puts_live_channels_first_and_keeps_stored_only_ones(conn):
    set_allowlisted(conn, [10], True)
    live = [SourceChannel(ChannelRow(20, 1, "GuildNews", "news"), GUILD, readable=False),
            SourceChannel(TEXT, GUILD, readable=True)]
    entries = merge_listing(stored_channels(conn), live)
    assert [(e["id"], e["live"], e["stored"], e["readable"], e["allowlisted"]) for e in entries] == [
        (20, True, False, False, False), (10, True, True, True, True), (11, False, True, None, False)]
    assert merge_listing(stored_channels(conn), None)[0]["live"] is False


def test_channels_list_offline_needs_no_token(workspace, monkeypatch):
    monkeypatch.delenv(secrets.TOKEN_ENV, raising=False)
    code, out, err = run_cli("channels", "list", "--offline", "--json", workspace=workspace)
    assert code == 0 and json.loads(out) == {"live": False, "channels": []}
    code, out, err = run_cli("channels", "list", workspace=workspace)
    assert code == 1 and "--offline" in err and "no bot token" in err


def test_channels_list_live_shows_readable_channels_of_the_guild(workspace, server):
    from tests.fakes_discord import FakeTextChannel
    FakeTextChannel(server.guild, "staff", readable=False)
    code, out, err = run_cli("channels", "list", "--json", workspace=workspace)
    assert code == 0, err
    entries = {entry["name"]: entry for entry in json.loads(out)["channels"]}
    assert set(entries) == {"Text Channels", "general", "random", "help-forum", "staff"}
    assert entries["general"]["readable"] is True and entries["staff"]["readable"] is False
    assert entries["general"]["category"] == "Text Channels" and entries["help-forum"]["kind"] == "GuildForum"
    assert not any(entry["stored"] for entry in entries.values())


def test_channels_add_looks_unknown_ids_up_live_and_stores_them(workspace, server):
    thread = FakeThread(server.general, "a thread", archived=True)
    code, out, err = run_cli("channels", "add", str(server.general.id), str(thread.id), "--json",
                             workspace=workspace)
    assert code == 0, err
    assert json.loads(out)["changed"] == [server.general.id, thread.id]
    code, out, err = run_cli("channels", "list", "--offline", "--json", workspace=workspace)
    stored = {entry["id"]: entry for entry in json.loads(out)["channels"]}
    assert stored[server.general.id]["kind"] == "GuildTextChat" and stored[server.general.id]["allowlisted"]
    assert stored[thread.id]["kind"] == "GuildPublicThread" and stored[thread.id]["parent_id"] == server.general.id
    code, out, err = run_cli("channels", "remove", str(thread.id), "--json", workspace=workspace)
    assert code == 0 and json.loads(out)["changed"] == [thread.id]


def test_channels_add_unknown_ids_is_a_clear_error_and_changes_nothing(workspace, server):
    unknown = "123456789012345678"
    code, out, err = run_cli("channels", "add", str(server.general.id), unknown, workspace=workspace)
    assert code == 1 and f"channel {unknown} is not known" in err and err.count("\n") == 1
    code, out, err = run_cli("channels", "list", "--offline", "--json", workspace=workspace)
    assert not any(entry["allowlisted"] for entry in json.loads(out)["channels"])
    code, out, err = run_cli("channels", "add", str(server.random.id), "--offline", workspace=workspace)
    assert code == 1 and "offline" in err
    code, out, err = run_cli("channels", "remove", unknown, workspace=workspace)
    assert code == 1 and f"channel {unknown} is not stored" in err
    code, out, err = run_cli("channels", "add", "not-a-number", workspace=workspace)
    assert code == 2


def test_channels_add_without_token_explains_what_to_do(workspace, monkeypatch):
    monkeypatch.delenv(secrets.TOKEN_ENV, raising=False)
    code, out, err = run_cli("channels", "add", "123456789012345678", workspace=workspace)
    assert code == 1 and "token set" in err
