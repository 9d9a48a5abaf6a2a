"""Parity: the bot's own recipe (its user id speaking as the persona, mentions as Discord delivers them) gives the
prompts ``prepare`` trained on; and the reply chain of the trigger is read from Discord."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bot_controller.bot.conversation import bot_turns, gather
from core.config.app_config import DatasetConfig
from core.dataset.personas import live_options, load_persona
from core.dataset.pipeline import prepare_dataset
from core.prompting.builder import build_prompt
from core.prompting.live import make_place
from storage import consent as consent_store, personas as store
from tests.test_dataset_support import live_messages, read_jsonl
from tests.test_prompt_builder import parity_history

PERSONA = 100              # Alice in parity_history, renamed "Ally"
BOT_ID = 987654321012345678
BOT_USER = SimpleNamespace(id=BOT_ID, name="personabot", display_name="PersonaBot", bot=True)


def as_the_bot_sees_it(message):
    """The stored message as Discord delivers it to the bot: the persona's lines are the bot's, mentions of the
    persona are ``<@bot id>`` in the content with the bot in ``mentions``."""
    author = BOT_USER if message.author.id == PERSONA else message.author
    content = re.sub(rf"<@!?{PERSONA}>", f"<@{BOT_ID}>", message.content)
    mentions = [BOT_USER if user.id == PERSONA else user for user in message.mentions]
    return SimpleNamespace(**{**vars(message), "author": author, "content": content, "mentions": mentions})


def test_the_bots_recipe_gives_the_training_prompt(workspace):
    conn = workspace.connect()
    parity_history().write(conn)
    store.set_profile(conn, PERSONA, name="Ally")
    consent_store.set_opted_out(conn, 104, True)
    config = DatasetConfig(min_messages=5, split_ratios=[1.0, 0.0, 0.0], max_share=1.0)
    prepare_dataset(conn, config, workspace.root / "set")
    examples = [e for e in read_jsonl(workspace.root / "set" / "train.jsonl")
                if int(e["meta"]["persona_id"]) == PERSONA]
    assert len(examples) >= 10
    persona = load_persona(conn, PERSONA)
    place = make_place("Test Server", "general")
    mentioned = 0
    for example in examples:
        target_id = int(example["meta"]["message_id"])
        history = [as_the_bot_sees_it(m) for m in live_messages(conn, int(example["meta"]["channel_id"]),
                                                                  until_id=target_id)]
        mentioned += any(f"<@{BOT_ID}>" in m.content for m in history)
        turns = bot_turns(history, options=live_options(conn), persona=persona, bot_user_id=BOT_ID, config=config)
        reply_to = conn.execute("SELECT reply_to_id FROM messages WHERE id = ?", (target_id,)).fetchone()[0]
        prompt = build_prompt(persona, place, turns, max_turns=config.max_context_turns,
                              token_budget=config.context_token_budget, reply_to_id=reply_to)
        assert prompt == example["messages"][:-1], example["meta"]
    assert mentioned  # the recipe was exercised with mentions of the bot
    text = "\n".join(str(e["messages"]) for e in examples)
    assert "PersonaBot" not in text and "@Ally" in text


class Channel:
    def __init__(self, messages):
        self.id, self.messages = 1, {m.id: m for m in messages}

    async def history(self, *, limit, before):
        for message_id in sorted((i for i in self.messages if i < before.id), reverse=True)[:limit]:
            yield self.messages[message_id]

    async def fetch_message(self, message_id):
        return self.messages[message_id]


def note(message_id, reply_to=None):
    return SimpleNamespace(id=message_id, reference=SimpleNamespace(message_id=reply_to, resolved=None)
                           if reply_to else None)


@pytest.mark.asyncio
async def test_gather_reads_recent_messages_and_the_reply_chain_beyond_them():
    messages = [note(1), note(2, reply_to=1)] + [note(n) for n in range(3, 20)] + [note(20, reply_to=2)]
    channel = Channel(messages)
    for message in messages:
        message.channel = channel
    found = await gather(messages[-1], limit=5)
    assert [m.id for m in found] == [1, 2, 15, 16, 17, 18, 19, 20]


def test_the_personas_webhook_messages_are_its_own_turns():
    from datetime import datetime, timedelta, timezone
    from core.conversation.turns import Persona
    start = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    def message(number, author, text, webhook_id=None):
        return SimpleNamespace(id=number, author=author, content=text, created_at=start + timedelta(seconds=number),
                               type="Default", reference=None, mentions=[], attachments=[], reactions=[],
                               webhook_id=webhook_id)
    bob = SimpleNamespace(id=7, name="bob", display_name="Bob", bot=False)
    hook_author = SimpleNamespace(id=4242, name="Ally", display_name="Ally", bot=True)
    history = [message(1, bob, "hi Ally"), message(2, hook_author, "hey Bob", webhook_id=4242),
               message(3, bob, "how are you?")]
    persona = Persona(PERSONA, "Ally")
    turns = bot_turns(history, options={}, persona=persona, bot_user_id=BOT_ID, own_webhooks=[4242])
    assert [(t.speaker_id, t.text) for t in turns] == [(7, "hi Ally"), (PERSONA, "hey Bob"), (7, "how are you?")]
    others = bot_turns(history, options={}, persona=persona, bot_user_id=BOT_ID, own_webhooks=[])
    assert {t.speaker_id for t in others} == {7} and all("hey Bob" not in t.text for t in others)  # a bot's
