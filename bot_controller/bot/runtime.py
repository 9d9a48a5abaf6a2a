"""The Discord bot: ``PersonaBot`` (a discord.py ``commands.Bot``) loads the GGUF once, watches its settings, answers.

Where it answers: only in its home servers (``bot_settings.home_guild_ids``). In another server it generates,
stores and changes nothing and says so once (``servers.ServersCog``); in a DM it never speaks as a persona, and
only the consent commands work there. In a home server it answers mentions and replies anywhere it can read, and
unaddressed messages in allowlisted channels (``triggers.decide``). What it remembers for whom: a reply recalls only
memories from channels that the asker and everyone who can read the reply's channel can read (``memory_scope``).

``setup_hook`` opens the database and the settings (an unusable stored value raises ``BotSettingsError``: the
entry point exits with the config code), starts the generation thread, the SQLite writer thread and the memory
feeder (``db_writer``: the event loop never writes to SQLite nor embeds), adds the cogs, and loads the model there
(unless the supervisor started it paused). A model that cannot be used (missing, corrupt, stale after an opt-out)
is one line in the log and in ``status``, and a mention then gets one short line saying so, at most once per
channel an hour (``notices``). With no persona chosen, the bot answers as the persona with the most training
examples in the model's dataset (``persona_choice``). Settings changed anywhere (panel, CLI, admin commands) reach
the bot within a second (``settings_watch``).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from pathlib import Path

import discord
from discord.ext import commands

from bot_controller.bot import conversation, discord_errors, sending
from bot_controller.bot.db_writer import DatabaseWriter, MemoryFeeder
from bot_controller.bot.memory_scope import MemoryScope, stored_threads
from bot_controller.bot.model_host import ModelHost, load_engine
from bot_controller.bot.notices import MentionNotices, reason_kind_of
from bot_controller.bot.persona_choice import PersonaChoice
from bot_controller.bot.settings_watch import SettingsWatch
from bot_controller.bot.stats import Stats
from bot_controller.bot.triggers import Incoming, RateState, decide
from bot_controller.bot.worker import ChannelQueues, GenerationWorker
from core.config.app_config import AppConfig, load_config
from core.config.workspace import Workspace
from storage import bot_settings, bot_stats

LOG = logging.getLogger("dps.bot")
PREFIX = "!"
DM_LINE = ("I only chat in my server. Here you can use !optout, !optin or !forget-me (or the same slash commands) "
           "for your own messages.")


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: switched on in the developer portal (README)
    intents.members = True          # display names, and who can read a channel (the memory wall)
    return intents


class PersonaBot(SettingsWatch, PersonaChoice, ModelHost, commands.Bot):
    def __init__(self, workspace: Workspace, *, engine_loader=load_engine, memory_loader=None, start_paused=False,
                 intents: discord.Intents | None = None, clock=time.monotonic, chance=random.random, **options):
        options.setdefault("http_trace", discord_errors.rate_limit_trace(self.rate_limited, self.channel_name))
        super().__init__(command_prefix=PREFIX, intents=intents or default_intents(), help_command=None,
                         allowed_mentions=sending.NO_PINGS, **options)
        self.workspace = workspace
        self.engine_loader, self.memory_loader = engine_loader, memory_loader
        self.clock, self.chance = clock, chance
        self.paused, self.pause_reason = start_paused, "training" if start_paused else ""
        self.stats = Stats(started=clock())
        self.rate_state = RateState()
        self.queues = ChannelQueues()
        self.settings = bot_settings.BotSettings()
        self.app_config = AppConfig()
        self.pipeline = None
        self.model_path: Path | None = None
        self.default_choice = None   # core.training.default_persona.DefaultPersona when none is chosen
        self.worker: GenerationWorker | None = None
        self.writer: DatabaseWriter | None = None
        self.feeder: MemoryFeeder | None = None
        self.scope = MemoryScope()
        self.mention_notices = MentionNotices(clock=clock)
        self.dm_hints = MentionNotices(clock=clock)
        self.conn = None
        self.webhooks: dict[int, object] = {}
        self.options: dict = {"names": {}, "opted_out": {}}
        self._version = -1
        self._memory_unchecked = False  # settings changed since the watcher last asked whether to open the memory
        self._watcher: asyncio.Task | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        self.conn = self.workspace.connect()
        self.app_config = load_config(self.workspace.config_path)
        self.refresh_settings()
        self.worker = GenerationWorker()
        self.writer = DatabaseWriter(self.workspace.connect, on_stored=self.stored, on_error=self.stats.notice)
        self.feeder = MemoryFeeder(self.live_memory, on_error=self.stats.notice)
        self.scope.set_threads(stored_threads(self.conn))
        from bot_controller.bot.admin import AdminCog
        from bot_controller.bot.capture import CaptureCog
        from bot_controller.bot.consent_cog import ConsentCog
        from bot_controller.bot.servers import ServersCog
        for cog in (AdminCog(self), ConsentCog(self), CaptureCog(self), ServersCog(self)):
            await self.add_cog(cog)
        if not self.paused:
            await self.load_model()
        self._watcher = asyncio.create_task(self.watch_settings())

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop watching settings, write what is queued, free the model (in its thread), close the database;
        safe to call twice."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        for name in ("writer", "feeder"):
            helper = getattr(self, name)
            setattr(self, name, None)
            if helper is not None:
                await asyncio.to_thread(helper.close)
        worker, self.worker = self.worker, None
        if worker is not None:
            pipeline, self.pipeline = self.pipeline, None
            if pipeline is not None:
                await worker.run(pipeline.engine.close)
            worker.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- servers --------------------------------------------------------------------------------------------------
    def is_home(self, guild) -> bool:
        return guild is not None and int(guild.id) in self.settings.home_guild_ids

    async def away_notice(self, channel) -> None:
        """Say once per server (ever) that the bot serves another server; nothing else happens there."""
        from bot_controller.bot.servers import AWAY_LINE, note_away_guild
        guild = getattr(channel, "guild", None)
        if guild is None or self.writer is None or not await self.writer.call(note_away_guild, guild.id):
            return
        try:
            await channel.send(AWAY_LINE, allowed_mentions=sending.NO_PINGS)
        except discord.HTTPException as exc:
            LOG.info("could not tell %s that the bot serves another server: %s", guild.name, exc)

    async def leave_guild(self, guild_id: int) -> bool:
        guild = self.get_guild(int(guild_id))
        if guild is None:
            self.stats.notice(f"cannot leave server {guild_id}: the bot is not in it")
            return False
        await guild.leave()
        LOG.info("left the server %s (%s) as asked from the panel", guild.name, guild.id)
        return True

    def live_memory(self):
        """The memory captured messages go to (None when the bot runs without one)."""
        pipeline = self.pipeline
        memory = pipeline.memory if pipeline is not None else None
        return memory if memory is not None and hasattr(memory, "add_messages") else None

    def stored(self, items) -> None:
        """The writer thread stored captured messages: they go on to the memory (on the feeder's thread)."""
        feeder = self.feeder
        for kind in ("add", "replace"):
            batch = [item.remember[1] for item in items if item.remember is not None and item.remember[0] == kind]
            if batch and feeder is not None:
                feeder.feed(kind, batch)

    async def settle(self) -> None:
        """Wait until everything captured so far is in SQLite and in the memory (tests and the load bench)."""
        if self.writer is not None:
            await self.writer.call(lambda conn: None)
        if self.feeder is not None:
            await asyncio.to_thread(self.feeder.flush)

    def public_text(self, text: str | None) -> str:
        """A line for Discord: the workspace's folder is not the server's business."""
        return str(text or "").replace(str(self.workspace.root), "WORKSPACE")

    # -- answering ------------------------------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        self.stats.seen += 1
        guild, own = message.guild, self.user is not None and message.author.id == self.user.id
        if message.author.bot or own:
            return
        if guild is not None and not self.is_home(guild):
            if self.user in message.mentions or message.content.startswith(PREFIX):
                await self.away_notice(message.channel)
            return
        if message.content.startswith(PREFIX):
            await self.process_commands(message)
            return
        if guild is None:  # a DM: never a persona's reply; say once an hour what works here
            if self.dm_hints.line_for(message.channel.id, "dm") is not None:
                await sending.send_plain(message.channel, [DM_LINE])
            return
        await self.consider(message)

    async def consider(self, message) -> None:
        replied = await self.replied_author(message)
        decision = decide(Incoming.from_message(message, self.user.id, replied), bot_user_id=self.user.id,
                          allowlist=self.settings.allowlist, rate=self.settings.rate,
                          mentions_only=self.settings.mentions_only, cooldown_seconds=self.settings.cooldown_seconds,
                          replies_per_minute=self.settings.replies_per_minute,
                          max_age_seconds=self.settings.max_age_seconds, state=self.rate_state, now=self.clock(),
                          random=self.chance)
        if not decision.answer:
            return
        if self.pipeline is None:
            await self.cannot_answer(message, decision.addressed)
            return
        self.rate_state.record(message.channel.id, self.clock())
        try:
            await self.answer(message)
        except discord.Forbidden as exc:  # a permission the channel does not grant: say which channel, once
            self.stats.errors += 1
            self.stats.notice(f"#{getattr(message.channel, 'name', message.channel.id)}: missing permission "
                              f"({exc.status} {exc.text or 'Forbidden'}); check View Channel, Send Messages and "
                              f"Read Message History there")
        except discord.HTTPException as exc:  # Discord's 5xx after discord.py's retries: one line, no traceback
            self.stats.errors += 1
            self.stats.notice(discord_errors.failure_line(f"#{self.channel_name(message.channel.id)}", exc))
        except Exception as exc:  # one message failed; the bot goes on (never posted to the channel)
            self.stats.errors += 1
            self.stats.notice(f"answering message {message.id} failed: {type(exc).__name__}: {exc}")
            LOG.exception("answering failed")

    async def cannot_answer(self, message, addressed: bool) -> None:
        """No model to answer with: the log says why; a mention hears it in one short line, once an hour here."""
        reason = self.pause_reason if self.paused else self.stats.model_error
        LOG.info("not answering %s: %s", message.id, "paused" if self.paused else reason)
        if not addressed:
            return
        line = self.mention_notices.line_for(message.channel.id, reason_kind_of(self.paused, reason), reason)
        if line is not None:
            try:
                await sending.send_plain(message.channel, [line], reply_to=message)
            except discord.HTTPException as exc:
                self.stats.notice(discord_errors.failure_line(f"#{self.channel_name(message.channel.id)}", exc))

    def channel_name(self, channel_id: int) -> str:
        return getattr(self.get_channel(channel_id), "name", None) or str(channel_id)

    def rate_limited(self, line: str) -> None:
        """A 429 seen on the bot's HTTP session (discord.py retries it): one line in the log and ``status``."""
        self.stats.notice(line)

    def history_failed(self, channel, exc: discord.HTTPException) -> None:
        self.stats.notice(f"#{getattr(channel, 'name', channel.id)}: Discord did not give the recent messages "
                          f"({discord_errors.status_words(exc)}); answering from the message alone")

    def typing_failed(self, channel, exc: discord.HTTPException) -> None:
        self.stats.notice(f"#{getattr(channel, 'name', channel.id)}: Discord did not show the typing indicator "
                          f"({discord_errors.status_words(exc)}); answering without it")

    async def replied_author(self, message) -> int | None:
        target = None
        reference = getattr(message, "reference", None)
        if reference is not None and reference.message_id is not None:
            target = discord.utils.get(self.cached_messages, id=reference.message_id)
            if target is None:
                target = await conversation.referenced(message)
        if target is None:
            return None
        if getattr(target, "webhook_id", None) in {getattr(hook, "id", None) for hook in self.webhooks.values()}:
            return self.user.id  # a reply to the persona's webhook message is a reply to the bot
        return int(target.author.id)

    async def answer(self, message) -> None:
        persona = self.persona_here(message.channel)
        if persona is None:
            return
        async with self.queues.lock(message.channel.id):
            history = await conversation.gather(message, on_failure=self.history_failed)
            hooks = [getattr(hook, "id", None) for hook in self.webhooks.values()]
            turns = conversation.bot_turns(history, options=self.options, persona=persona, bot_user_id=self.user.id,
                                           config=self.app_config.dataset, own_webhooks=hooks)
            place = conversation.channel_place(message.channel, self.options["opted_out"])
            pipeline = self.pipeline
            if pipeline is None:
                return
            scope = self.scope.channels(message.channel, message.author)
            call = functools.partial(pipeline.reply, persona, place, turns, int(message.id),
                                     exclude_authors=tuple(self.options["opted_out"]), memory_channels=scope)
            async with sending.typing_while(message.channel, self.typing_failed):
                reply = await self.worker.run(call)
            if reply.dropped_reason:
                self.stats.dropped += 1
                if reply.dropped_reason.startswith("error"):
                    self.stats.errors += 1
                    self.stats.notice(f"generation failed: {reply.dropped_reason}")
                LOG.info("reply to %s dropped: %s", message.id, reply.dropped_reason)
                return
            await self.post(message, persona, reply.parts)
            self.stats.replies += 1
            self.count_reply()

    def count_reply(self) -> None:
        """One more reply today in SQLite (the Dashboard's "replies today"), written by the writer thread."""
        if self.writer is not None:
            self.writer.post(bot_stats.record_reply)

    async def post(self, message, persona, parts: list[str]) -> None:
        channel, thread = message.channel, None
        if self.settings.reply_in_thread and isinstance(channel, discord.TextChannel):
            try:
                thread = await message.create_thread(name=f"{persona.name}: {message.content}"[:100] or persona.name)
                channel = thread
            except discord.HTTPException as exc:
                self.stats.notice(f"#{channel.name}: cannot create a thread ({exc}); replying in the channel")
        if bot_settings.webhook_for(self.settings, getattr(message.channel, "parent_id", None) or channel.id) or \
                bot_settings.webhook_for(self.settings, message.channel.id):
            try:
                hook = await sending.channel_webhook(channel, self.user.id, self.webhooks)
            except sending.WebhookUnavailable as exc:
                self.stats.notice(str(exc))
            else:
                avatar = self.settings.avatars.get(persona.id) or bot_settings.avatar_url(self.conn, persona.id)
                home_thread = sending.webhook_home(channel)[1]
                await sending.send_webhook(hook, parts, username=persona.name, avatar_url=avatar, thread=home_thread)
                return
        await sending.send_plain(channel, parts, reply_to=message if thread is None else None)
