"""The bot's settings, followed while it runs: a mixin of ``PersonaBot`` (it uses the bot's ``conn``, ``settings``,
``options``, ``pipeline``, ``scope``, ``worker`` and ``stats``).

Settings changed anywhere (panel, CLI, admin commands) reach the bot through the version row polled every
``SETTINGS_POLL_SECONDS`` or a SettingsChanged request (``force_refresh``). A change re-reads the settings, the
names and opt-outs prompts need, the stored threads the memory wall counts, and checks whether the model went stale;
a change of the home servers syncs the slash commands again; switching capture or memory on opens the memory.
"""
from __future__ import annotations

import asyncio
import logging

from bot_controller.bot.memory_scope import stored_threads
from bot_controller.bot.model_host import freeze_loaded_objects
from core.dataset.personas import live_options
from core.prompting.reply import ReplySettings
from storage import bot_settings

LOG = logging.getLogger("dps.bot")
SETTINGS_POLL_SECONDS = 0.5


class SettingsWatch:
    def refresh_settings(self) -> bool:
        """Re-read the settings when their version moved; True when something changed."""
        version = bot_settings.settings_version(self.conn)
        if version == self._version:
            return False
        homes = self.settings.home_guild_ids
        self.settings = bot_settings.load(self.conn)
        self.options = live_options(self.conn)
        self._version = version
        self._memory_unchecked = True  # by the watcher or a SettingsChanged request: the watcher opens it either way
        self.default_choice = None      # the persona chosen, or who opted out, may have changed
        self.scope.set_threads(stored_threads(self.conn))
        if self.pipeline is not None:
            self.pipeline.settings = self.reply_settings()
            memory = self.pipeline.memory
            if memory is not None and hasattr(memory, "refresh_consent"):
                memory.refresh_consent()
            self.check_stale()
        if homes != self.settings.home_guild_ids and self.is_ready():
            servers = self.get_cog("ServersCog")
            if servers is not None:  # home servers edited on the Bot page: sync or clear the commands now
                asyncio.ensure_future(servers.on_ready())
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
            freeze_loaded_objects()

    def reply_settings(self) -> ReplySettings:
        memory, dataset = self.app_config.memory, self.app_config.dataset
        return ReplySettings(max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
                             blocklist=self.settings.blocklist, memory_k=memory.top_k,
                             max_turns=dataset.max_context_turns)
