"""The bot child's side of the supervisor protocol (bot_controller.child), in-process with real pipes-as-text."""
from __future__ import annotations

import asyncio
import io
import json

from bot_controller import child
from bot_controller.protocol import (ENV_HEARTBEAT, ENV_START_PAUSED, ENV_TOKEN_ON_STDIN, EXIT_BAD_TOKEN, EXIT_CONFIG,
                                     BotHeartbeat, PauseBot, ResumeBot)
from core.jobs import wire
from core.jobs.events import JobFailed

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"


def test_the_token_comes_from_stdin_only_when_flagged(monkeypatch):
    from core.config import secrets
    stdin = io.StringIO(TOKEN + "\n" + wire.encode_request(PauseBot()) + "\n")
    assert child.read_token(stdin, {ENV_TOKEN_ON_STDIN: "1"}) == TOKEN
    assert stdin.readline().startswith(wire.REQUEST_MARKER.strip())  # the requests after it are left for the link
    assert secrets.redact(f"login with {TOKEN}") == f"login with {secrets.REDACTED}"
    monkeypatch.delenv("DPS_BOT_TOKEN", raising=False)
    untouched = io.StringIO("not a token\n")
    assert child.read_token(untouched, {}) is None and untouched.read() == "not a token\n"
    secrets.set_token(TOKEN)
    try:
        assert child.read_token(io.StringIO(""), {}) == TOKEN  # the keyring, read by the child itself
    finally:
        secrets.delete_token()


def test_requests_run_on_the_bots_event_loop():
    link = child.BotLink(wire.WorkerLink(stream=io.StringIO()), environ={ENV_START_PAUSED: "1"})
    assert link.start_paused and link.heartbeat_seconds == 5.0
    seen = []

    async def main():
        loop = asyncio.get_running_loop()
        link.bind_loop(loop)

        async def on_resume(request):
            seen.append(("resume", asyncio.get_running_loop() is loop))

        link.on_pause(lambda request: seen.append(("pause", request.reason, asyncio.get_running_loop() is loop)))
        link.on_resume(on_resume)
        # the control thread delivers requests off the loop; here a worker thread plays it
        for request in (PauseBot(reason="training"), ResumeBot()):
            await asyncio.to_thread(link.link.handle_request, wire.parse_request(wire.encode_request(request)))
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert seen == [("pause", "training", True), ("resume", True)]


def test_heartbeats_are_wire_events_at_the_supervisors_interval():
    out = io.StringIO()
    link = child.BotLink(wire.WorkerLink(stream=out), environ={ENV_HEARTBEAT: "0.01"})

    async def beat_a_little():
        task = asyncio.create_task(link.heartbeat_forever(lambda: "ready", details=lambda: {"guilds": 2}))
        await asyncio.sleep(0.055)
        task.cancel()

    asyncio.run(beat_a_little())
    events = [event for line in out.getvalue().splitlines() for event in wire.parse_line(line)]
    assert len(events) >= 3 and all(event == BotHeartbeat(status="ready", details={"guilds": 2}) for event in events)


def test_meaningful_exits_report_one_line_without_the_token(capsys):
    from core.config.secrets import register_secret
    register_secret(TOKEN)
    out = io.StringIO()
    assert child.exit_bad_token(f"401 for {TOKEN}", wire.WorkerLink(stream=out)) == EXIT_BAD_TOKEN
    assert child.exit_config("[bot] persona: unknown", wire.WorkerLink(stream=out)) == EXIT_CONFIG
    failures = [wire.parse_line(line)[0] for line in out.getvalue().splitlines()]
    assert [type(event) for event in failures] == [JobFailed, JobFailed]
    assert failures[0].exit_code == EXIT_BAD_TOKEN and TOKEN not in json.dumps(failures[0].message)
    assert "[bot] persona: unknown" in failures[1].message
    assert TOKEN not in capsys.readouterr().err
