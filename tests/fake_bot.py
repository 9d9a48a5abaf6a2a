"""A tiny stand-in for the bot child, for the supervisor's tests: it speaks the real protocol (bot_controller.child).

It heartbeats from its asyncio loop, prints what it received (pause, resume, reload, settings, stop) and can be told
to misbehave. Usage: python tests/fake_bot.py [--crash-after S] [--hang-after S] [--exit-code N] [--ignore-stop]
[--ignore-term] [--pids FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot_controller import child  # noqa: E402
from bot_controller.protocol import EXIT_BAD_TOKEN  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crash-after", type=float, help="exit with code 1 after this many seconds")
    parser.add_argument("--hang-after", type=float, help="block the event loop (no more heartbeats) after this")
    parser.add_argument("--exit-code", type=int, help="exit at once with this code (78: bad token)")
    parser.add_argument("--ignore-stop", action="store_true")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM (POSIX) to test the kill step")
    parser.add_argument("--pids", type=Path, help="append this process's pid to FILE")
    args = parser.parse_args(argv)
    token = child.read_token()  # first: before the link's control thread starts reading stdin
    if args.pids:
        with args.pids.open("a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    if args.ignore_term and sys.platform != "win32":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    digest = hashlib.sha256(token.encode()).hexdigest()[:16] if token else "none"
    print(f"fake bot: token sha256 {digest}; token in env: {'DPS_BOT_TOKEN' in os.environ}; "
          f"token in argv: {bool(token) and any(token in item for item in sys.argv)}", flush=True)
    if args.exit_code == EXIT_BAD_TOKEN:
        return child.exit_bad_token("Discord said 401 Unauthorized (fake)")
    if args.exit_code is not None:
        print(f"fake bot: exiting with {args.exit_code}", file=sys.stderr, flush=True)
        return args.exit_code
    return asyncio.run(run(child.BotLink(), args))


async def run(link: child.BotLink, args) -> int:
    loop = asyncio.get_running_loop()
    link.bind_loop(loop)
    stopping = asyncio.Event()
    paused = [link.start_paused]

    def say(text: str) -> None:
        print(f"fake bot: {text}", flush=True)

    def on_pause(request) -> None:
        paused[0] = True
        say(f"paused ({request.reason})")

    def on_resume(request) -> None:
        paused[0] = False
        say("resumed")

    link.on_pause(on_pause)
    link.on_resume(on_resume)
    link.on_reload(lambda request: say(f"reload {request.path or '(configured model)'}"))
    link.on_settings_changed(lambda request: say(f"settings changed {request.sections}"))
    if not args.ignore_stop:
        link.on_stop(lambda request: say("stop requested"))
        asyncio.create_task(link.stopped(poll=0.02)).add_done_callback(lambda task: stopping.set())
    say(f"started{' paused' if paused[0] else ''}")
    beats = asyncio.create_task(link.heartbeat_forever(lambda: "paused" if paused[0] else "ready"))
    started = loop.time()
    while not stopping.is_set():
        await asyncio.sleep(0.02)
        elapsed = loop.time() - started
        if args.crash_after is not None and elapsed >= args.crash_after:
            print("fake bot: crashing on purpose", file=sys.stderr, flush=True)
            os._exit(1)
        if args.hang_after is not None and elapsed >= args.hang_after:
            say("hanging")
            time.sleep(3600)  # blocks the loop: no heartbeat, like a deadlocked bot
    beats.cancel()
    say("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
