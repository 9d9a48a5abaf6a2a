"""The memory wall (``bot_controller.bot.memory_scope``) with Discord's real permission rules (discord.py's
``permissions_for`` over dpytest's guild, roles and overwrites).

#general is open to everyone, #staff to the staff role (and the bot) only. A reply in #general is read by everyone, so it may
recall #general only, even for a staff member; a reply in #staff may recall both. A member-specific overwrite
counts. A change of a channel's permissions drops the cached answer at once.
"""
from __future__ import annotations

import discord
import discord.ext.test as dpytest
import pytest

from bot_controller.bot.memory_scope import MemoryScope, readable_channels
from tests.bot_harness import ScriptedEngine, overwrite_types_as_discord_sends_them, start_bot, stop_bot


@pytest.fixture(autouse=True)
def real_overwrites(monkeypatch):
    overwrite_types_as_discord_sends_them(monkeypatch)


async def staff_server():
    config = dpytest.get_config()
    guild = config.guilds[0]
    general = config.channels[0]
    staff = dpytest.backend.make_text_channel("staff", guild)
    role = dpytest.backend.make_role("staff", guild)
    alice, bob = config.members[0], config.members[1]
    await dpytest.add_role(alice, role)
    await dpytest.set_permission_overrides(guild.default_role, staff, read_messages=False)
    await dpytest.set_permission_overrides(role, staff, read_messages=True, read_message_history=True)
    await dpytest.set_permission_overrides(guild.me, staff, read_messages=True, read_message_history=True)
    return guild, general, staff, alice, bob


@pytest.mark.asyncio
async def test_a_reply_recalls_only_channels_everyone_reading_it_can_read(workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), members=("Alice", "Bob"))
    try:
        guild, general, staff, alice, bob = await staff_server()
        assert staff.permissions_for(alice).read_messages and not staff.permissions_for(bob).read_messages
        in_general = readable_channels(general, alice)
        assert general.id in in_general and staff.id not in in_general  # Bob reads #general: no #staff words there
        in_staff = readable_channels(staff, alice)
        assert {general.id, staff.id} <= in_staff
        assert readable_channels(general, bob) == in_general            # Bob's own view of #general
        assert readable_channels(staff, bob) == frozenset()             # Bob cannot read where he asks: nothing
        dm = await alice.create_dm()
        assert readable_channels(dm, alice) == frozenset()              # a DM recalls nothing
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_a_member_overwrite_counts_and_a_permission_change_reaches_the_cached_answer(workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), members=("Alice", "Bob", "Cleo"))
    try:
        guild, general, staff, alice, bob = await staff_server()
        cleo = dpytest.get_config().members[2]
        await dpytest.set_permission_overrides(cleo, staff, read_messages=True, read_message_history=True)
        assert staff.id not in readable_channels(general, alice)  # Bob still cannot read #staff
        await dpytest.set_permission_overrides(bob, staff, read_messages=True, read_message_history=True)
        assert staff.id in readable_channels(general, alice)      # now every reader of #general reads #staff
        await dpytest.set_permission_overrides(bob, staff, read_messages=False)
        scope: MemoryScope = bot.scope
        first = scope.channels(general, alice)
        assert staff.id not in first and scope.channels(general, alice) is first  # cached
        computed = scope.computed
        await dpytest.set_permission_overrides(bob, staff, None)  # Bob's own deny goes; @everyone may read #staff
        await dpytest.set_permission_overrides(guild.default_role, staff, read_messages=True,
                                               read_message_history=True)
        await dpytest.run_all_events()  # the bot hears of the channel update (guild_channel_update)
        assert staff.id in scope.channels(general, alice) and scope.computed == computed + 1  # recomputed once
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_threads_follow_their_parent_and_private_threads_never_count(workspace):
    bot = await start_bot(workspace, ScriptedEngine("hi"), members=("Alice", "Bob"))
    try:
        guild, general, staff, alice, bob = await staff_server()
        threads = {general.id: [7001], staff.id: [7002]}
        allowed = readable_channels(general, alice, threads)
        assert 7001 in allowed and 7002 not in allowed
        conn = bot.conn
        conn.execute("INSERT INTO channels (id, guild_id, parent_id, kind, name) VALUES "
                     "(7101, NULL, ?, 'GuildPublicThread', 'open'), (7102, NULL, ?, 'GuildPrivateThread', 'secret')",
                     (general.id, general.id))
        from bot_controller.bot.memory_scope import stored_threads
        stored = stored_threads(conn)
        assert stored[general.id] == frozenset({7101})
        assert isinstance(general, discord.TextChannel)
    finally:
        await stop_bot(bot)
