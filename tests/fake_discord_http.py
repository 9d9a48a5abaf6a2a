"""A local fake of Discord's REST API (aiohttp on 127.0.0.1) for a real ``discord.http.HTTPClient`` to talk to.

Only Discord's network is fake: the bot's own HTTPClient (rate-limit buckets, 429 retries, 5xx retries, error
classes) runs unchanged against it, with ``discord.http.Route.BASE`` pointed here. The server answers the routes
the bot uses (``/users/@me``, channel history, typing, sending, the guild and global command sync) with payloads shaped like
Discord's, records every request, and fails on demand: ``fail(method, path_regex, status, times)`` queues failures
for matching requests. A 429 carries Discord's headers and body (``retry_after``, ``global``, ``X-RateLimit-*``,
``Via``: discord.py treats a 429 without ``Via`` as a Cloudflare ban and does not retry it).

``start_real_http_bot`` builds the bot on dpytest (for the gateway side: guild, channels, members, incoming
messages) and swaps dpytest's in-process HTTP fake back for the bot's own HTTPClient, logged in to this server.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import discord
import discord.ext.test as dpytest
import pytest_asyncio
from aiohttp import web

API = "/api/v10"
APPLICATION_ID = 424242424242424242
_snowflakes = itertools.count(1_300_000_000_000_000_000)


@dataclass
class Received:
    method: str
    path: str          # without the /api/v10 prefix
    body: object       # the JSON body, or None


@dataclass
class Failure:
    method: str
    pattern: re.Pattern
    status: int
    times: int | None              # None: until cleared
    retry_after: float = 0.2
    global_limit: bool = False
    text: str | None = None
    via: bool = True               # False: a 429 as Cloudflare sends it (discord.py does not retry that)


@dataclass
class FakeDiscordAPI:
    me: dict = field(default_factory=lambda: {"id": "1", "username": "FakeApp", "discriminator": "0001",
                                              "avatar": None, "bot": True, "global_name": None})
    received: list[Received] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    runner: web.AppRunner | None = None
    base: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}{API}"
        return self.base

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def fail(self, method: str, path_regex: str, status: int, times: int | None = 1, **extra) -> None:
        self.failures.append(Failure(method, re.compile(path_regex), status, times, **extra))

    def recover(self) -> None:
        self.failures.clear()

    def requests(self, method: str, path_regex: str) -> list[Received]:
        pattern = re.compile(path_regex)
        return [r for r in self.received if r.method == method and pattern.fullmatch(r.path)]

    def sent_contents(self, channel_id: int | None = None) -> list[str]:
        where = f"/channels/{channel_id}/messages" if channel_id else r"/channels/\d+/messages"
        return [r.body.get("content") for r in self.requests("POST", where)]

    # -- the server --------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        path = request.path[len(API):] if request.path.startswith(API) else request.path
        body = await request.json() if request.can_read_body and request.content_type == "application/json" else None
        self.received.append(Received(request.method, path, body))
        failure = self.failure_for(request.method, path)
        if failure is not None:
            return failure_response(failure)
        return self.answer(request.method, path, body, request.query)

    def failure_for(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.method in (method, "*") and failure.pattern.fullmatch(path):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                return failure
        return None

    def answer(self, method: str, path: str, body, query) -> web.Response:
        if method == "GET" and path == "/users/@me":
            return ok(self.me)
        if match := re.fullmatch(r"/channels/(\d+)/typing", path):
            return web.Response(status=204, headers=bucket_headers("typing"))
        if match := re.fullmatch(r"/channels/(\d+)/messages", path):
            if method == "GET":
                return ok([])  # no earlier history: the trigger alone makes the context
            return ok(message_payload(int(match.group(1)), self.me, body or {}))
        if match := re.fullmatch(r"/applications/(\d+)/guilds/(\d+)/commands", path):
            if method == "PUT":
                return ok([command_payload(command, match.group(1), match.group(2)) for command in body or []])
        if match := re.fullmatch(r"/applications/(\d+)/commands", path):
            if method == "PUT":
                return ok([command_payload(command, match.group(1), None) for command in body or []])
        return json_response({"message": "404: Not Found", "code": 0}, status=404)


def json_response(payload, *, status: int = 200, headers: dict | None = None) -> web.Response:
    """Discord's exact content type (discord.py parses JSON only for ``application/json`` with no charset)."""
    return web.Response(body=json.dumps(payload).encode(), status=status,
                        headers={**(headers or {}), "Content-Type": "application/json"})


def bucket_headers(bucket: str) -> dict:
    return {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": f"{time.time() + 5:.3f}",
            "X-RateLimit-Reset-After": "5.000", "X-RateLimit-Bucket": f"fake-{bucket}"}


def ok(payload) -> web.Response:
    return json_response(payload, headers=bucket_headers("default"))


def failure_response(failure: Failure) -> web.Response:
    if failure.status == 429:  # https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
        headers = {"Retry-After": str(max(1, round(failure.retry_after))),
                   "X-RateLimit-Scope": "global" if failure.global_limit else "user"}
        if failure.via:
            headers["Via"] = "1.1 google"
        if failure.global_limit:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update({"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                            "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                            "X-RateLimit-Bucket": "fake-default"})
        body = {"message": "You are being rate limited.", "retry_after": failure.retry_after,
                "global": failure.global_limit, "code": 0}
        return json_response(body, status=429, headers=headers)
    if failure.status == 403:
        return json_response({"message": failure.text or "Missing Access", "code": 50001}, status=403)
    if failure.status >= 500:  # Discord's edge answers plain text for a bad gateway, JSON otherwise
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(failure.status,
                                                                                                  "Server Error")
        return web.Response(status=failure.status, text=failure.text or f"{failure.status}: {reason}")
    return json_response({"message": failure.text or "Bad Request", "code": 0}, status=failure.status)


def message_payload(channel_id: int, author: dict, body: dict) -> dict:
    """What Discord answers to a POST: the created message."""
    return {"id": str(next(_snowflakes)), "channel_id": str(channel_id), "author": author, "type": 0,
            "content": body.get("content", ""), "timestamp": datetime.now(timezone.utc).isoformat(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": False, "flags": 0, "components": [],
            **({"message_reference": body["message_reference"]} if body.get("message_reference") else {})}


def command_payload(command: dict, application_id: str, guild_id: str | None) -> dict:
    found = {"id": str(next(_snowflakes)), "application_id": application_id, "version": "1", "type": 1,
             "nsfw": False, **command}
    if guild_id is not None:  # a global command has no guild_id at all
        found["guild_id"] = guild_id
    return found


def user_payload(user) -> dict:
    return {"id": str(user.id), "username": user.name, "discriminator": "0001", "avatar": None, "bot": True,
            "global_name": None}


async def start_real_http_bot(workspace, engine, api: FakeDiscordAPI, monkeypatch, **options):
    """``bot_harness.start_bot`` (dpytest for the gateway), then the bot's own HTTPClient, logged in to ``api``."""
    from tests import bot_harness
    captured = {}
    configure = dpytest.configure

    def configure_keeping_http(bot, **kwargs):
        captured["http"] = bot.http   # the HTTPClient discord.py built for the bot (its options, its trace)
        bot.http = None  # dpytest closes the old one; this one must stay open
        configure(bot, **kwargs)
    monkeypatch.setattr(dpytest, "configure", configure_keeping_http)
    monkeypatch.setattr(discord.http.Route, "BASE", api.base)
    bot = await bot_harness.start_bot(workspace, engine, **options)
    real = captured["http"]
    api.me = user_payload(bot.user)
    await real.static_login("fake.token.for-the-local-server")
    bot.http = bot._connection.http = bot.tree._http = real
    bot._connection.application_id = APPLICATION_ID
    return bot


async def stop_real_http_bot(bot, api: FakeDiscordAPI) -> None:
    from tests import bot_harness
    try:
        await bot_harness.stop_bot(bot)
    finally:
        await bot.http.close()
        await api.stop()
        await asyncio.sleep(0)


def dumps(received: list[Received]) -> str:
    """For assertion messages: what the server saw."""
    return json.dumps([(r.method, r.path) for r in received])


@pytest_asyncio.fixture
async def api():
    """A running fake of Discord's REST API (import this fixture into a test module to use it)."""
    server = FakeDiscordAPI()
    await server.start()
    yield server
    await server.stop()
