"""The bot's live channels for the first-run wizard, read by a CLI job (`launcher.py channels list --json`).

The panel never talks to Discord in its own process: the listing runs as a job with the stored token, and its one
JSON object arrives on the job's stdout as a LogLine. ``parse_listing`` turns that output into the channels the
wizard offers (per guild, text-like channels only); ``LiveChannelsActions`` starts the jobs (mixed into Actions).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

SKIPPED_KINDS = ("Category", "Voice", "Stage", "Thread")  # not something the bot reads or answers in as a channel


@dataclass(frozen=True)
class LiveChannel:
    id: int
    guild: str
    name: str
    category: str | None
    allowlisted: bool
    stored: bool          # already in the database (the allowlist can be set locally); else `channels add` stores it
    readable: bool | None  # False: the bot lacks Read Message History / View Channel there


class ListingError(ValueError):
    """The job's output held no channel listing; the message says what came instead."""


def parse_listing(lines: list[str]) -> list[LiveChannel]:
    """The channels in a `channels list --json` output (the last JSON object line wins), guild by guild."""
    listing = None
    for line in lines:
        text = line.strip()
        if text.startswith("{"):
            try:
                found = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict) and isinstance(found.get("channels"), list):
                listing = found
    if listing is None:
        raise ListingError("the channel listing printed no JSON object with channels")
    channels = []
    for entry in listing["channels"]:
        kind = str(entry.get("kind") or "")
        if entry.get("parent_id") is not None or any(word in kind for word in SKIPPED_KINDS):
            continue
        channels.append(LiveChannel(id=int(entry["id"]), guild=entry.get("guild") or f"server {entry.get('guild_id')}",
                                    name=str(entry.get("name") or entry["id"]), category=entry.get("category"),
                                    allowlisted=bool(entry.get("allowlisted")), stored=bool(entry.get("stored")),
                                    readable=entry.get("readable")))
    channels.sort(key=lambda channel: channel.guild.lower())  # stable: Discord's order within a guild
    return channels


class LiveChannelsActions:
    """Mixed into ``gui.actions.Actions`` (uses ``workspace`` and ``start_job``)."""

    def list_live_channels(self) -> str:
        """Start `channels list --json` as a job (the stored token, over REST); returns its job id."""
        from gui.actions_data import cli_job
        return self.start_job(cli_job(self.workspace, "channels", "channels", "list", "--json"))

    def add_live_channels(self, channel_ids: list[int]) -> str:
        """Start `channels add IDS --json`: looks the channels up live, stores and allowlists them; the job id."""
        from gui.actions_data import cli_job
        return self.start_job(cli_job(self.workspace, "channels-add", "channels", "add",
                                      *(str(int(channel_id)) for channel_id in channel_ids), "--json"))
