"""Discord's own failures in plain words: a rate limit (429) and an HTTP error the bot's reply died of (5xx, 4xx).

discord.py waits out a 429 itself (sleeping ``retry_after``, holding every request on a global limit) and retries
a 500/502/504 a few times; the bot only has to say so. A 429 is seen through an aiohttp trace on the bot's own
HTTP session (``rate_limit_trace``): it never reaches the bot as an exception when the retry succeeds. Lines name
the channel and the status and carry no changing numbers, so ``Stats.notice`` says each once (log and ``status``).
"""
from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp
import discord

CHANNEL_PATH = re.compile(r"/channels/(\d+)")
SNOWFLAKE = re.compile(r"\d{15,}")


def route_of(path: str, channel_name: Callable[[int], str | None]) -> str:
    """``#general`` for a channel's routes, else the path with its ids as ``{id}`` (one line per route, not per id)."""
    path = "/" + (path.split("/api/v", 1)[-1].split("/", 1)[-1] if "/api/v" in path else path).lstrip("/")
    found = CHANNEL_PATH.search(path)
    name = channel_name(int(found.group(1))) if found else None
    where = SNOWFLAKE.sub("{id}", path)
    return f"#{name} ({where})" if name else where


def rate_limit_line(method: str, where: str, headers) -> str:
    is_global = headers.get("X-RateLimit-Global", "").lower() == "true" or headers.get("X-RateLimit-Scope") == "global"
    scope = "a global rate limit" if is_global else f"a rate limit ({headers.get('X-RateLimit-Scope', 'route')})"
    return (f"Discord answered 429 Too Many Requests on {method} {where}: {scope}; discord.py waits and retries, "
            f"so replies come late, not lost")


def rate_limit_trace(on_line: Callable[[str], object], channel_name: Callable[[int], str | None]) -> aiohttp.TraceConfig:
    """An aiohttp trace for the bot's HTTP session that turns every 429 into one line through ``on_line``."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(session, context, params) -> None:
        if params.response.status == 429 and params.response.headers.get("Via"):  # without Via: see failure_line
            on_line(rate_limit_line(params.method, route_of(params.url.path, channel_name), params.response.headers))

    trace.on_request_end.append(on_request_end)
    return trace


def status_words(exc: discord.HTTPException) -> str:
    reason = getattr(getattr(exc, "response", None), "reason", None) or ""
    return f"{exc.status} {reason}".strip()


def failure_line(place: str, exc: discord.HTTPException, doing: str = "answering a message") -> str:
    """One line for an HTTP error a reply died of (after discord.py's own retries)."""
    if exc.status >= 500:
        return (f"{place}: Discord's servers failed ({status_words(exc)}) while {doing}; that reply is lost, "
                f"the bot keeps answering")
    if exc.status == 429:  # a 429 discord.py does not wait out: Cloudflare's limit after many failed requests
        return (f"{place}: Discord refused with 429 Too Many Requests (a Cloudflare limit, usually after many "
                f"invalid requests) while {doing}; that reply is lost")
    text = " ".join(str(exc.text or "").split())[:120]
    return f"{place}: Discord refused ({status_words(exc)}{': ' + text if text else ''}) while {doing}"
