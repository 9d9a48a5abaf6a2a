"""The bot's servers: home ones, others, and what changes who reads what.

The home servers are ``bot_settings.home_guild_ids`` (set when a channel is allowlisted, editable on the Bot page).
On ``on_ready`` (and every reconnect) the slash commands are synced to each home server, removed from every other
server the bot is in (a PUT of no commands: it clears what an earlier version synced there), and the three consent
commands are synced globally for DMs only. In a server that is not home the bot answers nothing, changes nothing and
says so once (``away_notice``, remembered in ``bot_guild_notices`` across restarts). Every change of a channel,
thread, role or member drops the memory wall's cache (``bot.scope``), and a home channel's "can @everyone read it"
is recorded in SQLite (``channels.everyone_reads``: the playground's memory wall).
"""
from __future__ import annotations

import logging

import discord
from discord.ext import commands

from storage import bot_settings

LOG = logging.getLogger("dps.bot")
CONSENT_COMMANDS = ("forget-me", "optout", "optin")
DM_CONTEXT, GUILD_INSTALL = 1, 0   # Discord's InteractionContextType.BOT_DM, ApplicationIntegrationType.GUILD_INSTALL
AWAY_LINE = ("I'm set up for another server and don't answer or store anything here. A manager of this server can "
             "remove me (Server Settings → Integrations).")


def everyone_reads(channel) -> bool | None:
    guild = getattr(channel, "guild", None)
    if guild is None or isinstance(channel, discord.CategoryChannel):
        return None
    permissions = channel.permissions_for(guild.default_role)
    return bool(permissions.read_messages and permissions.read_message_history)


def record_visibility(conn, visible: dict[int, bool]) -> None:
    """Record what @everyone can read, for the channels already stored (the writer thread runs this)."""
    conn.executemany("UPDATE channels SET everyone_reads = ? WHERE id = ? AND everyone_reads IS NOT ?",
                     [(int(value), channel_id, int(value)) for channel_id, value in visible.items()])


def note_away_guild(conn, guild_id: int) -> bool:
    """True the first time a notice is due in this server (ever: the row survives restarts)."""
    from storage.consent import now_iso
    cursor = conn.execute("INSERT OR IGNORE INTO bot_guild_notices (guild_id, noticed_at) VALUES (?, ?)",
                          (int(guild_id), now_iso()))
    return cursor.rowcount == 1


class ServersCog(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot
        self._sync_failed: set[int] = set()

    # -- slash commands ----------------------------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        bot = self.bot
        LOG.info("logged in as %s (%s) in %d server(s), %d of them home", bot.user, getattr(bot.user, "id", "?"),
                 len(bot.guilds), sum(1 for guild in bot.guilds if bot.is_home(guild)))
        for guild in bot.guilds:
            await self.sync_guild(guild)
        await self.sync_dms()
        self.record_home_visibility()

    async def sync_guild(self, guild) -> None:
        tree = self.bot.tree
        home = self.bot.is_home(guild)
        try:
            if home:  # guild commands appear at once (global ones take up to an hour)
                tree.copy_global_to(guild=guild)
            else:
                tree.clear_commands(guild=guild)
            await tree.sync(guild=guild)
        except discord.HTTPException as exc:
            if home:
                self.bot.stats.notice(f"slash commands not synced in {guild.name}: {exc} (invite the bot with the "
                                      f"applications.commands scope); the ! commands still work")
            else:
                LOG.info("could not clear slash commands in %s (not a home server): %s", guild.name, exc)

    async def sync_dms(self) -> None:
        """The consent commands, globally, for DMs only: a person may opt out or be forgotten without a server."""
        bot = self.bot
        payload = []
        for name in CONSENT_COMMANDS:
            command = bot.tree.get_command(name)
            if command is not None:
                body = command.to_dict(bot.tree)
                body.update(contexts=[DM_CONTEXT], integration_types=[GUILD_INSTALL])
                payload.append(body)
        try:
            await bot.http.bulk_upsert_global_commands(bot.application_id, payload=payload)
        except (discord.HTTPException, TypeError) as exc:  # TypeError: no application id (not logged in)
            LOG.info("consent commands not synced for DMs: %s; `!forget-me`, `!optout`, `!optin` work there", exc)

    @commands.Cog.listener()
    async def on_guild_join(self, guild) -> None:
        if self.bot.is_home(guild):
            await self.sync_guild(guild)
            return
        self.bot.stats.notice(f"added to the server {guild.name} ({guild.id}), which is not a home server: the bot "
                              f"ignores it; leave it from the Bot page, or make it home there")

    # -- who reads what --------------------------------------------------------------------------------------------
    def record_home_visibility(self, channels=None) -> None:
        bot = self.bot
        if channels is None:
            channels = [channel for guild in bot.guilds if bot.is_home(guild) for channel in guild.channels]
        visible = {int(channel.id): value for channel in channels
                   if bot.is_home(channel.guild) and (value := everyone_reads(channel)) is not None}
        if visible and bot.writer is not None:
            bot.writer.post(record_visibility, visible)

    def changed(self, *channels) -> None:
        self.bot.scope.invalidate()
        self.record_home_visibility([channel for channel in channels if channel is not None])

    @commands.Cog.listener()
    async def on_guild_channel_create(self, channel) -> None:
        self.changed(channel)

    @commands.Cog.listener()
    async def on_guild_channel_update(self, before, after) -> None:
        self.changed(after)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_guild_role_create(self, role) -> None:
        self.changed(*role.guild.channels)

    @commands.Cog.listener()
    async def on_guild_role_update(self, before, after) -> None:
        self.changed(*after.guild.channels)

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role) -> None:
        self.changed(*role.guild.channels)

    @commands.Cog.listener()
    async def on_member_update(self, before, after) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_member_join(self, member) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_member_remove(self, member) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_thread_create(self, thread) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_thread_update(self, before, after) -> None:
        self.changed()

    @commands.Cog.listener()
    async def on_thread_delete(self, thread) -> None:
        self.changed()


def servers_of(bot) -> list[dict]:
    """Every server the bot is in, for the panel: id (a string), name, home or not."""
    return [{"id": str(guild.id), "name": guild.name, "home": bot.is_home(guild)}
            for guild in sorted(bot.guilds, key=lambda guild: guild.name.casefold())]


def home_ids(settings: bot_settings.BotSettings) -> frozenset[int]:
    return frozenset(settings.home_guild_ids)
