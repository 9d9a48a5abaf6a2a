"""Everyone's own consent commands: ``forget-me``, ``optout``, ``optin`` (slash, and ``!`` in a home server or a DM).

Each acts on the caller only and runs the very CLI command the panel runs (``launcher.py personas forget|optout|
optin``, i.e. ``core.consent.actions``) as a process of its own, awaited from a thread: a forget takes the consent
lock for its whole run (minutes in a big workspace) and searches every workspace file, and none of that may hold up
the event loop (in a thread of the bot's own process it held the interpreter for up to 1.8 s at a time). A forget is
single-flight per person (a second request while one runs is told so) and rate-limited (``FORGET_EVERY`` seconds per
person once one finished); only one forget runs at a time in the bot (``FORGETS_AT_ONCE``), the next waits its turn.
Answers are private (``private.respond``). In a server that is not home, nothing happens (the bot's one notice there
says why).
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import time

from discord.ext import commands

from bot_controller.bot.private import respond
from core.jobs.processes import no_window
from core.jobs.specs import cli_argv

FORGET_EVERY = 600.0      # seconds between two forgets of one person: a second one has nothing left to find
FORGETS_AT_ONCE = 1       # each forget reads every workspace file; two at once only compete for the disk
CONSENT_TIMEOUT_S = 3600  # a forget in a very large workspace: minutes; an hour means something is stuck


def run_consent(workspace, action: str, user_id: int) -> dict:
    """``launcher.py personas forget|optout|optin USER --json`` as a process of its own (run from a worker thread):
    the very command the CLI and the panel run (``core.consent.actions``), and a forget's search through every
    workspace file never competes with the bot's event loop for its interpreter. Its JSON result, or
    ConsentFailed with the command's one-line error."""
    argv = cli_argv(workspace, "personas", action, str(int(user_id)), *(("--yes",) if action == "forget" else ()),
                    "--json")
    done = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", errors="replace",
                          timeout=CONSENT_TIMEOUT_S, stdin=subprocess.DEVNULL, **no_window())
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ConsentFailed(lines[-1] if lines else f"exit code {done.returncode}")
    return json.loads(done.stdout)


class ConsentFailed(RuntimeError):
    """The consent command did not finish; the message is its one-line error."""


class ConsentCog(commands.Cog):
    def __init__(self, bot, clock=time.monotonic) -> None:
        self.bot, self.clock = bot, clock
        self.forgetting: dict[int, asyncio.Task] = {}   # person -> their forget, while it runs
        self.forgotten_at: dict[int, float] = {}        # person -> when their last forget finished
        self.turns = asyncio.Semaphore(FORGETS_AT_ONCE)

    def away(self, ctx) -> bool:
        """A command in a server that is not home: nothing happens there."""
        return ctx.guild is not None and not self.bot.is_home(ctx.guild)

    @commands.hybrid_command(name="forget-me", description="delete your stored messages everywhere")
    async def forget_me(self, ctx: commands.Context) -> None:
        if self.away(ctx):
            await self.bot.away_notice(ctx.channel)
            return
        user_id = int(ctx.author.id)
        if ctx.interaction is not None:
            await ctx.defer(ephemeral=True)
        running = self.forgetting.get(user_id)
        if running is not None and not running.done():
            await respond(ctx, "your forget is already running; you will hear when it is done")
            return
        last = self.forgotten_at.get(user_id)
        if last is not None and self.clock() - last < FORGET_EVERY:
            await respond(ctx, "your messages were forgotten a few minutes ago and nothing of yours has been "
                               "stored since; try again later if you want to be sure")
            return
        task = asyncio.create_task(self._forget(user_id))
        self.forgetting[user_id] = task
        try:
            line = await asyncio.shield(task)
        finally:
            if task.done():
                self.forgetting.pop(user_id, None)
        await respond(ctx, line)

    async def _forget(self, user_id: int) -> str:
        async with self.turns:
            try:
                report = await asyncio.to_thread(run_consent, self.bot.workspace, "forget", user_id)
            except Exception as exc:  # PrivacyError, CheckpointIncomplete, ConsentBusy: the line says what to do
                return f"forget did not finish: {exc}"
            finally:
                self.bot.refresh_settings()
        self.forgotten_at[user_id] = self.clock()
        return (f"done: {report['messages_deleted']} of your messages are deleted, and what was built from them is "
                f"marked stale; nothing you write is stored from now on")

    @commands.hybrid_command(name="optout", description="keep your messages out of datasets, memory and prompts")
    async def optout(self, ctx: commands.Context) -> None:
        await self.consent(ctx, "optout", lambda report: (
            f"you are opted out: your messages are left out of datasets, memory and prompts "
            f"({len(report['stale'])} built file(s) holding your text are marked stale, "
            f"{report['memories_deleted']} memories deleted)"))

    @commands.hybrid_command(name="optin", description="allow your messages in datasets and memory again")
    async def optin(self, ctx: commands.Context) -> None:
        await self.consent(ctx, "optin", lambda report: "you are opted in again")

    async def consent(self, ctx: commands.Context, action: str, done) -> None:
        """Run ``personas ACTION`` for the caller and tell them ``done(report)``, or why it did not finish."""
        if self.away(ctx):
            await self.bot.away_notice(ctx.channel)
            return
        if ctx.interaction is not None:
            await ctx.defer(ephemeral=True)
        try:
            report = await asyncio.to_thread(run_consent, self.bot.workspace, action, int(ctx.author.id))
        except Exception as exc:  # ConsentFailed (the command's own line), a timeout
            await respond(ctx, f"{'opt-out' if action == 'optout' else 'opt-in'} did not finish: {exc}")
            return
        finally:
            self.bot.refresh_settings()
        await respond(ctx, done(report))
