"""The bot child's entry point: ``python launcher.py --worker bot --workspace DIR`` (supervised by the controller).

Order matters (``bot_controller.child``): the token is read first (it may be the first stdin line), then the wire
link. A malformed or refused token exits ``EXIT_BAD_TOKEN`` and unusable settings ``EXIT_CONFIG`` (the supervisor then
stops for good instead of restarting into the same error); a stop request or a dead supervisor logs out and exits 0.
Heartbeats run on the event loop, so a blocked loop stops them and the supervisor restarts the bot.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot_controller import child

LOG = logging.getLogger("dps.bot")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot worker")
    parser.add_argument("--workspace", type=Path)
    return parser.parse_args(argv)


def setup_logging() -> None:
    from core.config.secrets import install_log_redaction
    install_log_redaction()  # before discord.py logs anything: no record can carry the token
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("discord").setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    token = child.read_token()
    link = child.BotLink()
    setup_logging()
    from core.config.secrets import SecretError, validate_token
    if not token:
        return child.exit_bad_token("no bot token is stored: run `launcher.py token set`", link.link)
    try:
        token = validate_token(token)
    except SecretError as exc:
        return child.exit_bad_token(f"the stored bot token is malformed: {exc}", link.link)
    from core.config.strict import ConfigError
    from storage.bot_settings import BotSettingsError
    from storage.db import DatabaseError
    try:
        workspace = check_settings(args.workspace)
        return asyncio.run(run(workspace, token, link))
    except (ConfigError, BotSettingsError, DatabaseError) as exc:
        return child.exit_config(str(exc), link.link)


def check_settings(root: Path | None):
    """The workspace, once its config.toml and bot settings load: a bad value fails here, before Discord is asked."""
    from contextlib import closing
    from core.config.app_config import load_config
    from core.config.workspace import Workspace
    from storage import bot_settings
    workspace = Workspace.open(root)
    load_config(workspace.config_path)
    with closing(workspace.connect()) as conn:
        bot_settings.load(conn)
    return workspace


async def run(workspace, token: str, link: child.BotLink) -> int:
    import discord
    from bot_controller.bot.runtime import PersonaBot
    from core.config.strict import ConfigError
    from storage.bot_settings import BotSettingsError
    bot = PersonaBot(workspace, start_paused=link.start_paused)
    bind(bot, link)
    beats = asyncio.create_task(link.heartbeat_forever(lambda: status_of(bot), details=lambda: details_of(bot)))
    runner = asyncio.create_task(bot.start(token))
    stopper = asyncio.create_task(link.stopped())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            error = runner.exception()
            if isinstance(error, discord.LoginFailure):
                return child.exit_bad_token("Discord rejected the bot token (401)", link.link)
            if isinstance(error, discord.PrivilegedIntentsRequired):
                return child.exit_config("the Message Content and Server Members intents are off: switch them on "
                                         "in the developer portal (Bot → Privileged Gateway Intents)", link.link)
            if isinstance(error, (ConfigError, BotSettingsError)):  # edited between the check and the login
                return child.exit_config(str(error), link.link)
            if error is not None:
                raise error
            return 0
        LOG.info("stop requested: logging out")
        return 0
    finally:
        beats.cancel()
        stopper.cancel()
        if not bot.is_closed():
            await bot.close()
        if not runner.done():
            runner.cancel()


def bind(bot, link: child.BotLink) -> None:
    link.bind_loop(asyncio.get_running_loop())

    async def on_reload(request) -> None:
        await bot.load_model(request.path or None)

    async def on_pause(request) -> None:
        await bot.pause(request.reason)

    async def on_resume(request) -> None:
        await bot.resume()

    def on_settings(request) -> None:
        from core.config.app_config import load_config
        try:
            bot.app_config = load_config(bot.workspace.config_path)
            bot.force_refresh()
        except Exception as exc:  # keep the last good settings; the line says what is wrong
            bot.stats.notice(f"settings not applied: {exc}")

    async def on_leave(request) -> None:
        await bot.leave_guild(request.guild_id)

    link.on_reload(on_reload)
    link.on_pause(on_pause)
    link.on_resume(on_resume)
    link.on_settings_changed(on_settings)
    link.on_leave_guild(on_leave)


def status_of(bot) -> str:
    if bot.paused:
        return "paused"
    if not bot.is_ready():
        return "connecting"
    return "ready" if bot.pipeline is not None else "no model"


def details_of(bot) -> dict:
    from bot_controller.bot.servers import servers_of
    latency = bot.latency
    details = bot.stats.as_details()
    details.update({"guilds": len(bot.guilds), "model": str(bot.model_path or ""), "servers": servers_of(bot),
                    "latency_ms": round(latency * 1000) if latency == latency and latency != float("inf") else None})
    choice = bot.default_choice
    if bot.settings.persona_id is None and choice is not None:
        details["persona"] = {"id": str(choice.id), "name": choice.name, "automatic": True, "why": choice.reason}
    if bot.writer is not None:
        details["capture"] = {"queued": bot.writer.pending(), "lost": bot.writer.stats.lost,
                              "withheld": bot.writer.stats.withheld}
    return details
