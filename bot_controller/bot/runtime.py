"""The Discord bot: ``PersonaBot`` (a discord.py ``commands.Bot``) loads the GGUF once, watches its settings, answers.

``setup_hook`` opens the database and the settings (an unusable stored value raises ``BotSettingsError``: the
entry point exits with the config code), starts the generation thread, adds the admin and capture cogs, and loads the
model there (unless the supervisor started it paused). A model that cannot be used (missing, corrupt, no chat
template, stale after an opt-out) is one line in the log and in ``status``; the bot stays connected without
answering until ``reload`` succeeds. Settings changed anywhere (panel, CLI, admin commands) reach the bot through
the version row polled every ``SETTINGS_POLL_SECONDS`` or a SettingsChanged request.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import sqlite3
import time
from pathlib import Path

import discord
from discord.ext import commands

from bot_controller.bot import conversation, discord_errors, sending
from bot_controller.bot.model_host import ModelHost, load_engine
from bot_controller.bot.stats import Stats
from bot_controller.bot.triggers import Incoming, RateState, decide
from bot_controller.bot.worker import ChannelQueues, GenerationWorker
from core.config.app_config import AppConfig, load_config
from core.config.workspace import Workspace
from core.dataset import DatasetError
from core.dataset.personas import live_options, load_persona
from core.prompting.reply import ReplySettings
from storage import bot_settings, bot_stats, channels

LOG = logging.getLogger("dps.bot")
SETTINGS_POLL_SECONDS = 0.5
PREFIX = "!"


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: switched on in the developer portal (README)
    intents.members = True          # display names of the people in a conversation
    return intents


class PersonaBot(ModelHost, commands.Bot):
    def __init__(self, workspace: Workspace, *, engine_loader=load_engine, memory_loader=None, start_paused=False,
                 intents: discord.Intents | None = None, clock=time.monotonic, chance=random.random, **options):
        options.setdefault("http_trace", discord_errors.rate_limit_trace(self.rate_limited, self.channel_name))
        super().__init__(command_prefix=PREFIX, intents=intents or default_intents(), help_command=None,
                         allowed_mentions=sending.NO_PINGS, **options)
        self.workspace = workspace
        self.engine_loader, self.memory_loader = engine_loader, memory_loader
        self.clock, self.chance = clock, chance
        self.paused = start_paused
        self.stats = Stats(started=clock())
        self.rate_state = RateState()
        self.queues = ChannelQueues()
        self.settings = bot_settings.BotSettings()
        self.app_config = AppConfig()
        self.pipeline = None
        self.model_path: Path | None = None
        self.worker: GenerationWorker | None = None
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
        from bot_controller.bot.admin import AdminCog
        from bot_controller.bot.capture import CaptureCog
        await self.add_cog(AdminCog(self))
        await self.add_cog(CaptureCog(self))
        if not self.paused:
            await self.load_model()
        self._watcher = asyncio.create_task(self.watch_settings())

    async def on_ready(self) -> None:
        LOG.info("logged in as %s (%s) in %d server(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))
        for guild in self.guilds:  # guild commands appear at once (global ones take up to an hour)
            try:
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                self.stats.notice(f"slash commands not synced in {guild.name}: {exc} (invite the bot with the "
                                  f"applications.commands scope); the {PREFIX} commands still work")

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop watching settings, free the model (in its thread), close the database; safe to call twice."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        worker, self.worker = self.worker, None
        if worker is not None:
            pipeline, self.pipeline = self.pipeline, None
            if pipeline is not None:
                await worker.run(pipeline.engine.close)
            worker.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- settings -------------------------------------------------------------------------------------------------
    def refresh_settings(self) -> bool:
        """Re-read the settings when their version moved; True when something changed."""
        version = bot_settings.settings_version(self.conn)
        if version == self._version:
            return False
        self.settings = bot_settings.load(self.conn)
        self.options = live_options(self.conn)
        self._version = version
        self._memory_unchecked = True  # by the watcher or a SettingsChanged request: the watcher opens it either way
        if self.pipeline is not None:
            self.pipeline.settings = self.reply_settings()
            memory = self.pipeline.memory
            if memory is not None and hasattr(memory, "refresh_consent"):
                memory.refresh_consent()
            self.check_stale()
        return True

    def force_refresh(self) -> None:
        """Re-read everything now (a SettingsChanged request), even if the version row did not move."""
        self._version = -1
        self.refresh_settings()

    async def watch_settings(self) -> None:
        while True:
            await asyncio.sleep(SETTINGS_POLL_SECONDS)
            try:
                self.refresh_settings()
                if self._memory_unchecked:
                    self._memory_unchecked = False
                    await self.open_memory_when_wanted()
            except bot_settings.BotSettingsError as exc:  # keep the last good settings; say what is wrong
                self.stats.notice(str(exc))
            except Exception as exc:
                self.stats.notice(f"reading the bot settings failed: {exc}")

    async def open_memory_when_wanted(self) -> None:
        """Capture or memory switched on while the model runs without a memory (the folder was empty and capture
        off at load): open it now, in the generation thread, so captured messages reach it without a reload."""
        pipeline = self.pipeline
        if pipeline is None or pipeline.memory is not None or not self.settings.memory or self.worker is None:
            return
        memory = await self.worker.run(self.open_memory)
        if memory is not None and self.pipeline is pipeline:
            pipeline.memory = memory
            LOG.info("memory opened: %s", self.workspace.memory_dir)

    def reply_settings(self) -> ReplySettings:
        memory, dataset = self.app_config.memory, self.app_config.dataset
        return ReplySettings(max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
                             blocklist=self.settings.blocklist, memory_k=memory.top_k,
                             max_turns=dataset.max_context_turns)

    # -- answering ------------------------------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        self.stats.seen += 1
        if message.content.startswith(PREFIX) and not message.author.bot:
            await self.process_commands(message)
            return
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
            LOG.info("not answering %s: %s", message.id, "paused" if self.paused else self.stats.model_error)
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

    def persona_here(self, channel):
        persona_id = bot_settings.persona_for(self.settings, channel.id, getattr(channel, "parent_id", None))
        if persona_id is None:
            self.stats.notice("no persona is set: use `/persona NAME` or set persona_id in the panel")
            return None
        try:
            return load_persona(self.conn, persona_id)
        except DatasetError as exc:
            self.stats.notice(f"persona for #{getattr(channel, 'name', channel.id)}: {exc}")
            return None

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
            call = functools.partial(pipeline.reply, persona, place, turns, int(message.id),
                                     exclude_authors=tuple(self.options["opted_out"]),
                                     memory_channels=self.memory_channels(message))
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

    def memory_channels(self, message) -> frozenset[int]:
        """The channels whose memories this reply may recall: for now the allowlisted channels (and their threads)
        of the message's server; none in a DM. (To be replaced by the channels the people here can read.)"""
        guild = getattr(message, "guild", None)
        return frozenset() if guild is None else channels.allowlisted_in_guild(self.conn, guild.id)

    def count_reply(self) -> None:
        """One more reply today in SQLite (the Dashboard's "replies today"); a busy database costs the count only."""
        try:
            bot_stats.record_reply(self.conn)
        except sqlite3.Error as exc:
            self.stats.notice(f"cannot count the reply in the database: {exc}")

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
