"""Admin and privacy commands, as slash commands with ``!`` prefix fallbacks (discord.py hybrid commands).

Admin commands (``status``, ``setrate``, ``settemp``, ``setmaxlen``, ``persona``, ``webhook``, ``reload``, ``allow``,
``deny``) need Manage Server or an id in the ``admin_ids`` setting; a refusal is ephemeral. Their slash versions are
synced with ``default_member_permissions`` = Manage Server, so Discord shows them to server managers only (an
``admin_ids`` user without it uses the ``!`` commands, or a manager grants the slash ones under Integrations). Every user may run
``forget-me``, ``optout`` and ``optin``, which act on the caller only and go through the CLI's own code
(``core.dataset.privacy``): SQLite, datasets and the memory index alike. Settings are written to SQLite
(``storage.bot_settings``), so the panel shows the same values; the bot re-reads them at once.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

from discord import app_commands
from discord.ext import commands

from core.dataset import DatasetError
from core.dataset.personas import resolve_user
from core.ingest.records import MessageBatch
from storage import bot_settings, channels as channel_store
from storage.messages import write_batch

REFUSED = "only server managers (Manage Server) or configured bot admins may do that"


def run_forget(workspace, user_id: int) -> str:
    """``personas forget`` for one user, on a connection of its own (runs in a worker thread)."""
    from core.dataset.privacy import forget
    from storage import wal
    conn = workspace.connect()
    try:
        report = forget(conn, workspace.root, user_id, checkpoint_timeout=wal.DEFAULT_TIMEOUT_S).as_json()
    finally:
        conn.close()
    deleted = report.get("messages_deleted", report.get("messages", "your"))
    return f"done: {deleted} of your messages are deleted, and what was built from them is marked stale"


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


class AdminCog(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    def is_admin(self, user) -> bool:
        permissions = getattr(user, "guild_permissions", None)
        return bool(permissions and permissions.manage_guild) or int(user.id) in self.bot.settings.admin_ids

    async def refuse(self, ctx: commands.Context) -> bool:
        """True (after an ephemeral refusal) when the caller may not run admin commands."""
        if self.is_admin(ctx.author):
            return False
        await ctx.send(REFUSED, ephemeral=True)
        return True

    async def store(self, ctx: commands.Context, key: str, value) -> None:
        try:
            stored = bot_settings.set_value(self.bot.conn, key, value)
        except bot_settings.BotSettingsError as exc:
            await ctx.send(str(exc), ephemeral=True)
            return
        self.bot.refresh_settings()
        await ctx.send(f"{key} = {stored}", ephemeral=True)

    @commands.hybrid_command(name="status", description="uptime, model, persona, latency, counters, VRAM")
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, ctx: commands.Context) -> None:
        if await self.refuse(ctx):
            return
        bot, stats = self.bot, self.bot.stats
        persona = bot.persona_here(ctx.channel)
        engine = bot.pipeline.engine if bot.pipeline is not None else None
        model = (f"{bot.model_path.name}" if bot.pipeline is not None and bot.model_path else
                 "paused" if bot.paused else f"not loaded: {stats.model_error}")
        vram = await asyncio.to_thread(vram_line, engine)
        latency = bot.latency * 1000 if bot.latency == bot.latency and bot.latency != float("inf") else 0.0
        lines = [f"uptime {duration(bot.clock() - stats.started)} · model {model} · persona "
                 f"{persona.name if persona else 'none'} · latency {latency:.0f} ms",
                 f"messages seen {stats.seen} · replies {stats.replies} · dropped {stats.dropped} · "
                 f"errors {stats.errors} · {vram}"]
        lines += [f"! {line}" for line in stats.notices]
        await ctx.send("\n".join(lines), ephemeral=True)

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
        if await self.refuse(ctx):
            return
        try:
            user_id = resolve_user(self.bot.conn, name)
        except DatasetError as exc:
            await ctx.send(str(exc), ephemeral=True)
            return
        if scope == "default":
            await self.store(ctx, "persona_id", user_id)
            return
        bot_settings.set_channel(self.bot.conn, ctx.channel.id, persona_id=user_id)
        self.bot.refresh_settings()
        await ctx.send(f"persona here: {self.bot.persona_here(ctx.channel).name}", ephemeral=True)

    @commands.hybrid_command(name="webhook", description="reply here through a webhook as the persona (on/off)")
    @app_commands.default_permissions(manage_guild=True)
    async def webhook(self, ctx: commands.Context, enabled: bool) -> None:
        if await self.refuse(ctx):
            return
        bot_settings.set_channel(self.bot.conn, ctx.channel.id, webhook=enabled)
        self.bot.refresh_settings()
        await ctx.send(f"webhook mode {'on' if enabled else 'off'} here", ephemeral=True)

    @commands.hybrid_command(name="reload", description="load the model again (a new export) without a restart")
    @app_commands.default_permissions(manage_guild=True)
    async def reload(self, ctx: commands.Context, path: str = "") -> None:
        if await self.refuse(ctx):
            return
        await ctx.defer(ephemeral=True)
        started = time.monotonic()
        if await self.bot.load_model(path or None):
            await ctx.send(f"loaded {self.bot.model_path.name} in {time.monotonic() - started:.1f} s", ephemeral=True)
        else:
            await ctx.send(f"reload failed: {self.bot.stats.model_error}", ephemeral=True)

    @commands.hybrid_command(name="allow", description="let the bot answer and capture in this channel")
    @app_commands.default_permissions(manage_guild=True)
    async def allow(self, ctx: commands.Context) -> None:
        if not await self.refuse(ctx):
            await self.set_allowed(ctx, True)

    @commands.hybrid_command(name="deny", description="stop answering unaddressed messages in this channel")
    @app_commands.default_permissions(manage_guild=True)
    async def deny(self, ctx: commands.Context) -> None:
        if not await self.refuse(ctx):
            await self.set_allowed(ctx, False)

    async def set_allowed(self, ctx: commands.Context, allowed: bool) -> None:
        from bot_controller.bot.discord_rows import channel_batch
        write_batch(self.bot.conn, channel_batch(ctx.channel, MessageBatch()))
        channel_store.set_allowlisted(self.bot.conn, [ctx.channel.id], allowed)
        self.bot.refresh_settings()
        await ctx.send(f"#{ctx.channel.name} is {'allowlisted' if allowed else 'no longer allowlisted'}",
                       ephemeral=True)

    @commands.hybrid_command(name="forget-me", description="delete your stored messages everywhere")
    async def forget_me(self, ctx: commands.Context) -> None:
        await ctx.defer(ephemeral=True)
        try:
            line = await asyncio.to_thread(run_forget, self.bot.workspace, int(ctx.author.id))
        except Exception as exc:  # PrivacyError, CheckpointIncomplete: the message says what to do
            line = f"forget did not finish: {exc}"
        self.bot.refresh_settings()
        await ctx.send(line, ephemeral=True)

    @commands.hybrid_command(name="optout", description="keep your messages out of datasets, memory and prompts")
    async def optout(self, ctx: commands.Context) -> None:
        from core.dataset.privacy import opt_out
        marked = opt_out(self.bot.conn, int(ctx.author.id))
        self.bot.refresh_settings()
        await ctx.send(f"you are opted out; {len(marked)} built file(s) holding your text are marked stale",
                       ephemeral=True)

    @commands.hybrid_command(name="optin", description="allow your messages in datasets and memory again")
    async def optin(self, ctx: commands.Context) -> None:
        from storage.personas import set_opted_out
        set_opted_out(self.bot.conn, int(ctx.author.id), False)
        self.bot.refresh_settings()
        await ctx.send("you are opted in again", ephemeral=True)
