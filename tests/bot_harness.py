"""Test helpers for the bot runtime: a scripted reply engine and a PersonaBot wired to dpytest's fake Discord.

``ScriptedEngine`` has the surface ``model.reply_pipeline.ReplyPipeline`` uses (n_ctx, token counts, end tokens,
generate) and answers with the texts it is given, recording every prompt; the real SmolLM2 engine replaces it in
the slow tests. ``start_bot`` builds the bot exactly as the child does (setup_hook included) on dpytest's backend.
Sent payloads are recorded by wrapping the HTTP layer, so tests assert on what would have gone to Discord.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import discord
import discord.ext.test as dpytest

from bot_controller.bot.runtime import PersonaBot
from core.ingest.records import MessageBatch, UserRow
from model.inference import Generation
from storage import bot_settings
from storage.messages import write_batch

PERSONA_ID = 500
PERSONA_NAME = "Ally"


class ScriptedEngine:
    n_ctx = 2048
    end_tokens = ["<|im_end|>"]
    gpu_layers = 0

    def __init__(self, *replies: str, delay: float = 0.0) -> None:
        self.replies = list(replies) or ["hello there"]
        self.prompts: list[list[dict]] = []
        self.delay = delay
        self.closed = False

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1 if text else 0

    def prompt_tokens(self, messages: list[dict]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def generate(self, messages, *, max_tokens, temperature, top_p, stop=None, repeat_penalty=1.1, seed=None):
        self.prompts.append(messages)
        if self.delay:
            time.sleep(self.delay)
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Generation(text=text, tokens=len(text.split()), first_token_s=0.01, seconds=0.02)

    def close(self) -> None:
        self.closed = True


def add_persona(conn, user_id: int = PERSONA_ID, name: str = PERSONA_NAME) -> None:
    write_batch(conn, MessageBatch(users={user_id: UserRow(user_id, name.lower(), name, False)}))


def record_sends(bot) -> list[dict]:
    """Every message payload the bot sends from now on (content, allowed_mentions, ...)."""
    sent: list[dict] = []
    original = bot.http.send_message

    async def send_message(channel_id, *, params):
        sent.append(dict(params.payload or {}))
        channel = bot.get_channel(channel_id)  # noqa: F841  dpytest's backend reads its caller's `channel` local
        return await original(channel_id, params=params)

    bot.http.send_message = send_message
    return sent


async def start_bot(workspace, engine, *, settings: dict | None = None, members=("Bob", "Carol"),
                    engine_loader=None, guilds: int = 1, home: int | None = 0, **options) -> PersonaBot:
    """A configured PersonaBot on dpytest (``guilds`` guilds with one text channel each, ``members``), its model
    loaded. ``home``: the index of the guild that is the bot's home server (None: no home server)."""
    conn = workspace.connect()
    add_persona(conn)
    bot_settings.set_value(conn, "persona_id", PERSONA_ID)
    bot_settings.set_value(conn, "model_path", str(Path(workspace.root) / "models" / "fake.gguf"))
    bot_settings.set_value(conn, "memory", False)
    for key, value in (settings or {}).items():
        bot_settings.set_value(conn, key, value)
    conn.close()
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    options.setdefault("chance", lambda: 0.99)  # deterministic: only a rate of 1 answers unaddressed messages
    bot = PersonaBot(workspace, engine_loader=engine_loader or (lambda path: engine), intents=intents, **options)
    await bot._async_setup_hook()
    dpytest.configure(bot, members=list(members), guilds=guilds)
    bot._connection.loop = asyncio.get_running_loop()  # dpytest's state has none; typing() needs it
    if home is not None:
        conn = workspace.connect()
        bot_settings.set_value(conn, "home_guild_ids", [dpytest.get_config().guilds[home].id])
        conn.close()
    await bot.setup_hook()
    return bot


async def allow_channel(bot, channel) -> None:
    from bot_controller.bot.discord_rows import channel_batch
    from storage import channels
    write_batch(bot.conn, channel_batch(channel, MessageBatch()))
    channels.set_allowlisted(bot.conn, [channel.id], True)
    bot.refresh_settings()


def sent_messages() -> list:
    """Every message the bot sent (channels and DMs) since the last call, oldest first."""
    found = []
    while not dpytest.sent_queue.empty():
        found.append(dpytest.sent_queue.get_nowait())
    return found


async def stop_bot(bot) -> None:
    await dpytest.empty_queue()
    await bot.shutdown()  # dpytest's fake gateway cannot run discord.py's own close


def overwrite_types_as_discord_sends_them(monkeypatch) -> None:
    """dpytest 0.7 writes an overwrite's type as "role"/"member"; discord.py 2.7 reads Discord's 0/1 and takes the
    string for a member, so every role overwrite would silently apply to nobody. Write the numbers, as Discord does."""
    from discord.ext.test import factories
    original = factories.dict_from_overwrite

    def with_numbers(target, overwrite):
        data = original(target, overwrite)
        is_role = isinstance(target, discord.Role) or getattr(target, "type", None) is discord.Role
        data["type"] = 0 if is_role else 1
        return data
    monkeypatch.setattr(factories, "dict_from_overwrite", with_numbers)
