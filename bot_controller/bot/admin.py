"""Admin commands, as slash commands with ``!`` prefix fallbacks (discord.py hybrid commands).

``status``, ``setrate``, ``settemp``, ``setmaxlen``, ``persona``, ``webhook``, ``reload``, ``allow``, ``deny`` need
Manage Server *in a home server* (``bot_settings.home_guild_ids``) or an id in ``admin_ids``. Outside the home
servers they change nothing, for anyone: the bot serves its owner's server only. In a DM, an ``admin_ids`` user
may run the commands that do not name a channel. Their slash versions are synced to the home servers only, with
``default_member_permissions`` = Manage Server, so Discord shows them to server managers (an ``admin_ids`` user
without it uses the ``!`` commands). Every answer, a refusal included, reaches only the caller
(``private.respond``). Settings are written to SQLite through the bot's writer thread (``storage.bot_settings``),
so the panel shows the same values and the event loop never waits for the database. ``reload`` loads only a GGUF
inside the workspace or a registered export, and says nothing about any other path.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

from discord import app_commands
from discord.ext import commands

from bot_controller.bot.private import respond
from core.dataset import DatasetError
from core.dataset.personas import load_persona, resolve_user
from core.ingest.records import MessageBatch
from storage import artifacts, bot_settings, channels as channel_store
from storage.messages import write_batch

REFUSED = "only managers of this bot's server (Manage Server) or configured bot admins may do that"
IN_A_CHANNEL = "use this in a channel of the bot's server"
MODEL_REFUSED = ("only a GGUF inside the workspace (runs/*/export/, models/) or a registered export can be loaded; "
                 "`launcher.py runs list` shows them")
MODEL_KINDS = ("export", "model", "run")


def vram_line(engine) -> str:
    if engine is None:
        return "VRAM: no model loaded"
    if not getattr(engine, "gpu_layers", 0):
        return "VRAM: not used (CPU)"
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return "VRAM: on the GPU (usage unknown: no nvidia-smi)"
    try:
        out = subprocess.run([tool, "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout.split("\n")[0]
        used, total = (int(float(part)) for part in out.split(","))
        return f"VRAM: {used} / {total} MiB"
    except (OSError, ValueError, subprocess.SubprocessError):
        return "VRAM: on the GPU (usage unknown)"


def duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def workspace_model(workspace, conn, text: str) -> Path | None:
    """The GGUF ``text`` names when it lies inside the workspace or a registered export/model folder, else None
    (whether the path exists elsewhere is never looked at, so the answer tells nothing about the host)."""
    try:
        path = Path(text.strip()).expanduser()
        path = (path if path.is_absolute() else workspace.root / path).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    if path.suffix.lower() != ".gguf":
        return None
    if path.is_relative_to(Path(workspace.root).resolve()):
        return path
    if any(artifact.kind in MODEL_KINDS for artifact in artifacts.enclosing(conn, path)):
        return path
    return None


def allow_channel(conn, channel, allowed: bool) -> None:
    """Store the channel's row (with its server's) and flip its allowlist flag (the writer thread runs this)."""
    from bot_controller.bot.discord_rows import channel_batch
    write_batch(conn, channel_batch(channel, MessageBatch()))
    channel_store.set_allowlisted(conn, [channel.id], allowed)


class AdminCog(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    def is_admin(self, ctx) -> bool:
        """Manage Server in a home server, or an admin id in a home server or a DM; never in another server."""
        guild = ctx.guild
        if guild is not None and not self.bot.is_home(guild):
            return False
        if int(ctx.author.id) in self.bot.settings.admin_ids:
            return True
        permissions = getattr(ctx.author, "guild_permissions", None) if guild is not None else None
        return bool(permissions and permissions.manage_guild)

    async def refuse(self, ctx: commands.Context, *, needs_channel: bool = False) -> bool:
        """True (after a private refusal, or the away notice in another server) when the caller may not run it."""
        if ctx.guild is not None and not self.bot.is_home(ctx.guild):
            await self.bot.away_notice(ctx.channel)
            return True
        if not self.is_admin(ctx):
            await respond(ctx, REFUSED)
            return True
        if needs_channel and ctx.guild is None:
            await respond(ctx, IN_A_CHANNEL)
            return True
        return False

    async def store(self, ctx: commands.Context, key: str, value) -> None:
        try:
            stored = await self.bot.writer.call(bot_settings.set_value, key, value)
        except bot_settings.BotSettingsError as exc:
            await respond(ctx, str(exc))
            return
        self.bot.refresh_settings()
        await respond(ctx, f"{key} = {stored}")

    @commands.hybrid_command(name="status", description="uptime, model, persona, latency, counters, VRAM")
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, ctx: commands.Context) -> None:
        if await self.refuse(ctx):
            return
        bot, stats = self.bot, self.bot.stats
        persona = bot.persona_here(ctx.channel) if ctx.guild is not None else None
        engine = bot.pipeline.engine if bot.pipeline is not None else None
        model = (f"{bot.model_path.name}" if bot.pipeline is not None and bot.model_path else
                 "paused" if bot.paused else f"not loaded: {bot.public_text(stats.model_error)}")
        vram = await asyncio.to_thread(vram_line, engine)
        latency = bot.latency * 1000 if bot.latency == bot.latency and bot.latency != float("inf") else 0.0
        lines = [f"uptime {duration(bot.clock() - stats.started)} · model {model} · persona "
                 f"{persona.name if persona else 'none'} · latency {latency:.0f} ms",
                 f"messages seen {stats.seen} · replies {stats.replies} · dropped {stats.dropped} · "
                 f"errors {stats.errors} · {vram}"]
        if bot.default_choice is not None and bot.settings.persona_id is None:
            lines.append(f"no persona is chosen, so the bot answers as {bot.default_choice.why}; "
                         f"`/persona NAME default` changes it")
        lines += [f"! {bot.public_text(line)}" for line in stats.notices]
        await respond(ctx, "\n".join(lines))

    @commands.hybrid_command(name="setrate", description="chance (0..1) of answering an unaddressed message")
    @app_commands.default_permissions(manage_guild=True)
    async def setrate(self, ctx: commands.Context, value: float) -> None:
        if not await self.refuse(ctx):
            await self.store(ctx, "rate", value)

    @commands.hybrid_command(name="settemp", description="sampling temperature (0..2)")
    @app_commands.default_permissions(manage_guild=True)
    async def settemp(self, ctx: commands.Context, value: float) -> None:
        if not await self.refuse(ctx):
            await self.store(ctx, "temperature", value)

    @commands.hybrid_command(name="setmaxlen", description="most tokens in a reply")
    @app_commands.default_permissions(manage_guild=True)
    async def setmaxlen(self, ctx: commands.Context, value: int) -> None:
        if not await self.refuse(ctx):
            await self.store(ctx, "max_tokens", value)

    @commands.hybrid_command(name="persona", description="the persona answering here (or everywhere: default)")
    @app_commands.default_permissions(manage_guild=True)
    async def persona(self, ctx: commands.Context, name: str, scope: str = "channel") -> None:
        if await self.refuse(ctx, needs_channel=scope != "default"):
            return
        try:
            user_id = resolve_user(self.bot.conn, name)
            chosen = load_persona(self.bot.conn, user_id)  # an opted-out person is refused here, with why
        except DatasetError as exc:
            await respond(ctx, str(exc))
            return
        if scope == "default":
            await self.store(ctx, "persona_id", user_id)
            return
        await self.bot.writer.call(bot_settings.set_channel, ctx.channel.id, persona_id=user_id)
        self.bot.refresh_settings()
        await respond(ctx, f"persona here: {chosen.name}")

    @commands.hybrid_command(name="webhook", description="reply here through a webhook as the persona (on/off)")
    @app_commands.default_permissions(manage_guild=True)
    async def webhook(self, ctx: commands.Context, enabled: bool) -> None:
        if await self.refuse(ctx, needs_channel=True):
            return
        await self.bot.writer.call(bot_settings.set_channel, ctx.channel.id, webhook=enabled)
        self.bot.refresh_settings()
        await respond(ctx, f"webhook mode {'on' if enabled else 'off'} here")

    @commands.hybrid_command(name="reload", description="load the model again (a new export) without a restart")
    @app_commands.default_permissions(manage_guild=True)
    async def reload(self, ctx: commands.Context, path: str = "") -> None:
        if await self.refuse(ctx):
            return
        chosen = None
        if path:
            chosen = workspace_model(self.bot.workspace, self.bot.conn, path)
            if chosen is None:
                await respond(ctx, MODEL_REFUSED)
                return
        if ctx.interaction is not None:
            await ctx.defer(ephemeral=True)
        started = time.monotonic()
        if await self.bot.load_model(chosen):
            await respond(ctx, f"loaded {self.bot.model_path.name} in {time.monotonic() - started:.1f} s")
        else:
            await respond(ctx, f"reload failed: {self.bot.public_text(self.bot.stats.model_error)}")

    @commands.hybrid_command(name="allow", description="let the bot answer and capture in this channel")
    @app_commands.default_permissions(manage_guild=True)
    async def allow(self, ctx: commands.Context) -> None:
        if not await self.refuse(ctx, needs_channel=True):
            await self.set_allowed(ctx, True)

    @commands.hybrid_command(name="deny", description="stop answering unaddressed messages in this channel")
    @app_commands.default_permissions(manage_guild=True)
    async def deny(self, ctx: commands.Context) -> None:
        if not await self.refuse(ctx, needs_channel=True):
            await self.set_allowed(ctx, False)

    async def set_allowed(self, ctx: commands.Context, allowed: bool) -> None:
        await self.bot.writer.call(allow_channel, ctx.channel, allowed)
        self.bot.refresh_settings()
        await respond(ctx, f"#{ctx.channel.name} is {'allowlisted' if allowed else 'no longer allowlisted'}")
