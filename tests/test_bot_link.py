"""The bot child's side of the supervisor link: the parent's requests (reload, pause, resume, settings changed)
reach the running bot on its loop; ``run`` heartbeats while connected, logs out on stop, maps a refused token."""
from __future__ import annotations

import asyncio
import threading

import pytest

from bot_controller import child
from bot_controller.bot.main import bind, details_of, status_of
from bot_controller.protocol import PauseBot, ReloadModel, ResumeBot, SettingsChanged
from storage import bot_settings
from tests.bot_harness import ScriptedEngine, start_bot, stop_bot


class FakeWire:
    """The wire link's surface BotLink uses; requests are delivered from another thread, as the control thread does."""

    def __init__(self):
        self.handlers, self.events = {}, []

    def on_request(self, name, callback):
        self.handlers[name] = callback

    def emit(self, event):
        self.events.append(event)

    def stop_requested(self):
        return False

    def deliver(self, name, request):
        thread = threading.Thread(target=self.handlers[name], args=(request,))
        thread.start()
        thread.join()


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_the_parents_requests_reach_the_bot_and_heartbeats_describe_it(workspace):
    engines = iter([ScriptedEngine("a"), ScriptedEngine("b"), ScriptedEngine("c")])
    bot = await start_bot(workspace, None, engine_loader=lambda path: next(engines))
    wire = FakeWire()
    link = child.BotLink(link=wire, environ={})
    try:
        bind(bot, link)
        first = bot.pipeline.engine
        wire.deliver("bot_reload_model", ReloadModel(path=""))
        await until(lambda: bot.pipeline is not None and bot.pipeline.engine is not first)
        wire.deliver("bot_pause", PauseBot(reason="training"))
        await until(lambda: bot.pipeline is None)
        assert status_of(bot) == "paused"
        wire.deliver("bot_resume", ResumeBot())
        await until(lambda: bot.pipeline is not None)
        conn = workspace.connect()
        bot_settings.set_value(conn, "rate", 0.9)
        conn.close()
        wire.deliver("bot_settings_changed", SettingsChanged(sections=["bot"]))
        await until(lambda: bot.settings.rate == 0.9)
        link.heartbeat(status_of(bot), **details_of(bot))
        beat = wire.events[-1]
        assert beat.details["model"].endswith("fake.gguf") and beat.details["errors"] == 0
        assert {"messages_seen", "replies", "guilds", "latency_ms"} <= set(beat.details)
    finally:
        await stop_bot(bot)


@pytest.mark.asyncio
async def test_run_beats_while_connected_logs_out_on_stop_and_maps_a_refused_token_to_78(workspace, monkeypatch):
    import discord
    from bot_controller.bot import main as entry
    from bot_controller.bot.runtime import PersonaBot
    from bot_controller.protocol import ENV_HEARTBEAT, EXIT_BAD_TOKEN, BotHeartbeat
    from core.jobs.events import JobFailed

    async def connected_forever(self, token):
        await asyncio.Event().wait()
    monkeypatch.setattr(PersonaBot, "start", connected_forever)
    wire = FakeWire()
    stop = threading.Event()
    wire.stop_requested = stop.is_set
    link = child.BotLink(link=wire, environ={ENV_HEARTBEAT: "0.05"})
    running = asyncio.create_task(entry.run(workspace, "token", link))
    await until(lambda: sum(isinstance(e, BotHeartbeat) for e in wire.events) >= 3)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert wire.events[0].status == "connecting"

    async def refused(self, token):
        raise discord.LoginFailure("Improper token has been passed.")
    monkeypatch.setattr(PersonaBot, "start", refused)
    wire = FakeWire()
    code = await entry.run(workspace, "token", child.BotLink(link=wire, environ={}))
    failures = [e for e in wire.events if isinstance(e, JobFailed)]
    assert code == EXIT_BAD_TOKEN and failures[0].message == "Discord rejected the bot token (401)"
